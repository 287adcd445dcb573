from livebase import CronJobs, api

crons = CronJobs()

# Every 10 minutes; the first run is right after the deploy that adds it.
crons.interval("refresh stats", {"minutes": 10}, api.stats.refresh)

# Shorthands for cron expressions; all times are UTC.
crons.daily("morning reminder", {"hourUTC": 8, "minuteUTC": 30}, api.reminders.fire, {"text": "stand-up"})
crons.weekly("weekly reminder", {"dayOfWeek": "friday", "hourUTC": 16, "minuteUTC": 0},
             api.reminders.fire, {"text": "write the weekly notes"})

# Any five-field cron expression: minute hour day-of-month month day-of-week.
crons.cron("weekday lunch", "0 12 * * 1-5", api.reminders.fire, {"text": "lunch"})
