// The supervisor's plots, apart from the page: the stats URL, bucket
// labels, durations and shares as text, and the four charts' series from a
// `/history/stats` report (see docs/agent-ui.md for what each figure means).

/** `/history/stats?span=…&offset=…`; `offset` is minutes east of UTC. */
export function statsUrl(span, offsetMinutes) {
  const params = new URLSearchParams({ span: span === "days" ? "days" : "hours", offset: String(offsetMinutes | 0) });
  return `/history/stats?${params}`;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A bucket's label in the asker's local time: "14:00" (hours) or "Mon 7 Dec" (days). */
export function bucketLabel(startMs, span, offsetMinutes) {
  const local = new Date(Number(startMs) + offsetMinutes * 60_000);
  if (span === "days") {
    return `${WEEKDAYS[local.getUTCDay()]} ${local.getUTCDate()} ${MONTHS[local.getUTCMonth()]}`;
  }
  return `${String(local.getUTCHours()).padStart(2, "0")}:00`;
}

/** A duration for people: "45 s", "3.5 min", "2.1 h", "1.5 d" (0 is "0"). */
export function duration(ms) {
  const s = Number(ms) / 1000;
  if (!(s > 0)) return "0";
  const one = (v) => (v >= 10 ? String(Math.round(v)) : String(Math.round(v * 10) / 10));
  if (s < 60) return `${one(s)} s`;
  if (s < 3600) return `${one(s / 60)} min`;
  if (s < 86_400) return `${one(s / 3600)} h`;
  return `${one(s / 86_400)} d`;
}

/** A share as a percentage: "25%" (whole percent; "0%"). */
export function percent(share) {
  return `${Math.round((Number(share) || 0) * 100)}%`;
}

/** The share of negative texts in a bucket, or null when it had no texts. */
export function negativeShare(bucket) {
  const texts = Number(bucket.customer_texts) || 0;
  return texts > 0 ? (Number(bucket.negative_texts) || 0) / texts : null;
}

/**
 * The four charts of a report: `[{id, title, labels, series, format, yMax,
 * table: {head: [...], rows: [[...]]}}]`; each chart's table holds the same
 * figures as text ("–" where a bucket has none).
 */
export function charts(report, offsetMinutes) {
  const span = report?.span === "days" ? "days" : "hours";
  const buckets = report?.buckets ?? [];
  const labels = buckets.map((b) => bucketLabel(b.start_ms, span, offsetMinutes));
  const per = span === "days" ? "day" : "hour";
  const dash = (v, f) => (v === null || v === undefined ? "–" : f(v));
  const spreadChart = (id, title, key) => {
    const median = buckets.map((b) => b[key]?.median_ms ?? null);
    const p90 = buckets.map((b) => b[key]?.p90_ms ?? null);
    return {
      id,
      title: `${title}, median and 90th percentile per ${per}`,
      labels,
      series: [
        { name: "median", values: median },
        { name: "90th percentile", values: p90 },
      ],
      format: duration,
      yMax: null,
      table: {
        head: [span === "days" ? "Day" : "Hour", "Median", "90th percentile", "Conversations"],
        rows: buckets.map((b, i) => [
          labels[i],
          dash(median[i], duration),
          dash(p90[i], duration),
          String(b[key]?.count ?? 0),
        ]),
      },
    };
  };
  const agents = report?.agents ?? [];
  const negative = buckets.map(negativeShare);
  return [
    spreadChart("first-response", "First-response time", "first_response"),
    spreadChart("resolve", "Time to resolve", "resolve"),
    {
      id: "per-agent",
      title: `Conversations per agent per ${per}`,
      labels,
      series: agents.map((name) => ({ name, values: buckets.map((b) => b.per_agent?.[name] ?? 0) })),
      format: (v) => String(Math.round(v)),
      yMax: null,
      integers: true,
      table: {
        head: [span === "days" ? "Day" : "Hour", ...agents],
        rows: buckets.map((b, i) => [labels[i], ...agents.map((name) => String(b.per_agent?.[name] ?? 0))]),
      },
    },
    {
      id: "negative",
      title: `Share of negative customer texts per ${per}`,
      labels,
      series: [{ name: "negative", values: negative }],
      format: percent,
      yMax: 1,
      table: {
        head: [span === "days" ? "Day" : "Hour", "Negative", "Customer texts"],
        rows: buckets.map((b, i) => [
          labels[i],
          negative[i] === null ? "–" : `${percent(negative[i])} (${b.negative_texts})`,
          String(b.customer_texts ?? 0),
        ]),
      },
    },
  ];
}

/** The line above the charts: how many conversations, and as of when. */
export function reportSummary(report, offsetMinutes) {
  const buckets = report?.buckets ?? [];
  const resolved = buckets.reduce((sum, b) => sum + (Number(b.resolved) || 0), 0);
  const range = report?.span === "days" ? "the last 14 days" : "the last 24 hours";
  const at = new Date(Number(report?.generated_at_ms ?? 0) + offsetMinutes * 60_000);
  const time = `${String(at.getUTCHours()).padStart(2, "0")}:${String(at.getUTCMinutes()).padStart(2, "0")}`;
  const noun = resolved === 1 ? "conversation" : "conversations";
  const cut = report?.truncated ? " (the newest only: more were resolved than one report covers)" : "";
  return `${resolved} ${noun} resolved in ${range}${cut}, as of ${time}.`;
}
