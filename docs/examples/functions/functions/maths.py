from livebase import query, v


@query(args={"n": v.number()})
def inverse(ctx, n):
    return 1 / n
