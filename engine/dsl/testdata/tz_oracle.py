#!/usr/bin/python3
"""Independent time-zone figures for time_zone_test: Python's zoneinfo over the same tz database.

For every zone named on the command line and every day from FIRST to LAST, prints one line:
  zone date midnight next_midnight at_0230 noon_local_text
where midnight, next_midnight and at_0230 are the UTC instants (epoch seconds) of that wall-clock
time in the zone (fold=0: a skipped time is read with the offset before the gap, a repeated one is
the first occurrence), and noon_local_text is 12:00 UTC of that day shown in the zone with its
offset ("2038-07-01T14:00:00+02:00").
"""
import datetime
import sys
import zoneinfo

FIRST = datetime.date.fromisoformat(sys.argv[1])
LAST = datetime.date.fromisoformat(sys.argv[2])
UTC = datetime.timezone.utc


def epoch(day, hour, minute, tz):
    return int(datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp())


def offset_text(delta):
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


out = sys.stdout
for name in sys.argv[3:]:
    tz = zoneinfo.ZoneInfo(name)
    day = FIRST
    while day <= LAST:
        nxt = day + datetime.timedelta(days=1)
        noon = datetime.datetime(day.year, day.month, day.day, 12, tzinfo=UTC).astimezone(tz)
        out.write(f"{name} {day.isoformat()} {epoch(day, 0, 0, tz)} {epoch(nxt, 0, 0, tz)} "
                  f"{epoch(day, 2, 30, tz)} {noon.strftime('%Y-%m-%dT%H:%M:%S')}"
                  f"{offset_text(noon.utcoffset())}\n")
        day = nxt
