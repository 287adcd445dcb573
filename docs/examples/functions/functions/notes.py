import logging

from livebase import AppError, internal_mutation, mutation, query, v

log = logging.getLogger(__name__)


@query(args={})
def list(ctx):
    """The 20 newest notes, newest first."""
    return ctx.db.query("notes").order("desc").take(20)


@mutation(args={"text": v.string(), "tags": v.optional(v.array(v.string()))})
def add(ctx, text, tags=None):
    if not text.strip():
        raise AppError({"code": "empty_note", "message": "a note needs some text"})
    tags = tags or []
    note_id = ctx.db.insert("notes", {"text": text, "tags": tags})
    print("added note", note_id)
    log.info("%d tags", len(tags))
    return note_id


@internal_mutation(args={})
def clear(ctx):
    """Delete every note; returns how many were deleted."""
    notes = ctx.db.query("notes").collect()
    for note in notes:
        ctx.db.delete(note["_id"])
    return len(notes)
