// Times as operators read them: UTC, or the market's zone on request, and countdowns to
// deadlines, gate closures and timers. Times come from the API as RFC 3339 strings.
let mode = localStorage.getItem('gf.zone') || 'utc';

export function zoneMode() { return mode; }
export function setZoneMode(value) {
  mode = value;
  localStorage.setItem('gf.zone', value);
}

export function parse(ts) {
  if (!ts) return null;
  const t = Date.parse(ts);
  return Number.isNaN(t) || t <= 0 ? null : t;
}

// "2026-12-03 11:00:00 UTC" or "2026-12-03 12:00:00 Europe/Berlin"; "" for an unset time.
export function formatTime(ts, marketZone) {
  const t = parse(ts);
  if (t === null) return '';
  const zone = mode === 'market' && marketZone ? marketZone : 'UTC';
  return `${inZone(t, zone)} ${zone}`;
}

// Both: "11:00:00 UTC · 12:00:00 Europe/Berlin" (timers and deadlines, where both matter).
export function formatBoth(ts, marketZone) {
  const t = parse(ts);
  if (t === null) return '';
  const utc = `${inZone(t, 'UTC')} UTC`;
  return marketZone && marketZone !== 'UTC' ? `${utc} · ${inZone(t, marketZone)} ${marketZone}`
                                            : utc;
}

function inZone(t, zone) {
  try {
    // sv-SE writes ISO-like "2026-12-03 12:00:00".
    return new Intl.DateTimeFormat('sv-SE', {
      timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    }).format(new Date(t));
  } catch {
    return new Date(t).toISOString().replace('T', ' ').slice(0, 19);
  }
}

// A duration for reading: "350ms", "41s", "12m 5s", "3h 5m", "2d 4h".
export function shortDuration(ms) {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)}ms`;
  const s = Math.floor(abs / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

// "in 4m 10s" or "passed 12s ago"; refreshed by tickCountdowns().
export function countdown(ts) {
  const t = parse(ts);
  if (t === null) return '';
  const left = t - Date.now();
  return left >= 0 ? `in ${shortDuration(left)}` : `passed ${shortDuration(-left)} ago`;
}

// Elements with data-countdown="<RFC 3339>" show a live countdown; urgent under 5 minutes.
export function tickCountdowns(root = document) {
  for (const el of root.querySelectorAll('[data-countdown]')) {
    const t = parse(el.dataset.countdown);
    el.textContent = countdown(el.dataset.countdown);
    el.classList.toggle('urgent', t !== null && t - Date.now() < 5 * 60 * 1000);
  }
}
