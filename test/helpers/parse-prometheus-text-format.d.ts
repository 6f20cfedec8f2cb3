/** Types of parse-prometheus-text-format (the package ships none): Prometheus text → metric families. */
declare module 'parse-prometheus-text-format' {
  /** One metric family: name, help, type (COUNTER, GAUGE, HISTOGRAM, SUMMARY, UNTYPED) and its samples. */
  export interface MetricFamily {
    name: string;
    help: string;
    type: string;
    metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }>;
  }
  /** Parse the Prometheus text exposition format. Throws on malformed input. */
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
