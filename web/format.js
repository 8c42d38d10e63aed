// Numbers, durations and dates as people read them.

const count = new Intl.NumberFormat(undefined);
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatCount(n) {
  return count.format(n);
}

/** 4.2 s, 1 min 05 s. */
export function formatDuration(ms) {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
}

/** "just now", "5 minutes ago", "yesterday", then the date. */
export function formatRelative(date, now = new Date()) {
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return "just now";
  if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  if (abs < 7 * 86400) return relative.format(Math.round(seconds / 86400), "day");
  return absolute.format(date);
}

export function formatDateTime(date) {
  return absolute.format(date);
}

/** "landing" → "Landing". */
export function label(name) {
  return name.charAt(0).toUpperCase() + name.slice(1).replaceAll("_", " ");
}

export function plural(n, one, many) {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}
