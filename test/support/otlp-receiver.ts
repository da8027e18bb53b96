/**
 * A real OTLP/HTTP trace receiver on 127.0.0.1 (random port) for tests: it accepts `POST /v1/traces` with an
 * OTLP JSON `ExportTraceServiceRequest` (what `@opentelemetry/exporter-trace-otlp-http` sends), answers 200
 * `{}` as a collector does, and keeps every span with its resource's attributes, decoded to plain values.
 * Anything else it receives (another path, another content type, a body that is not JSON) is recorded as a
 * problem, so a test can assert there was none rather than silently see no spans.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** OTLP `SpanKind` (1 internal, 2 server, 3 client) and `StatusCode` (0 unset, 1 ok, 2 error). */
export const spanKind = { internal: 1, server: 2, client: 3 } as const;
export const statusCode = { unset: 0, ok: 1, error: 2 } as const;

export type AttributeValue = string | number | boolean | undefined;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  /** Nanoseconds since the epoch. */
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
  status: number;
  resource: Record<string, AttributeValue>;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Requests that were not an OTLP JSON trace export. */
  readonly problems: string[];
  /** The status every export is answered with (200 unless a test refuses them); a refused export is not kept. */
  status: number;
  close(): Promise<void>;
}

interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpKeyValue[];
  status?: { code?: number };
}

interface ExportTraceServiceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const problems: string[] = [];
  const state = { status: 200 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const contentType = String(request.headers['content-type'] ?? '');
      if (state.status !== 200) {
        response.writeHead(state.status, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        problems.push(`${request.method} ${request.url}`);
      } else if (!contentType.startsWith('application/json')) {
        problems.push(`content-type ${contentType}`);
      } else {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportTraceServiceRequest;
          spans.push(...decode(body));
        } catch (error) {
          problems.push(`unreadable export: ${String(error)}`);
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    problems,
    get status() {
      return state.status;
    },
    set status(value) {
      state.status = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function decode(body: ExportTraceServiceRequest): ReceivedSpan[] {
  const decoded: ReceivedSpan[] = [];
  for (const resourceSpans of body.resourceSpans ?? []) {
    const resource = attributesOf(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        decoded.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? '',
          name: span.name,
          kind: span.kind,
          startTimeUnixNano: BigInt(span.startTimeUnixNano),
          endTimeUnixNano: BigInt(span.endTimeUnixNano),
          attributes: attributesOf(span.attributes),
          status: span.status?.code ?? statusCode.unset,
          resource,
        });
      }
    }
  }
  return decoded;
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const { key, value } of list ?? []) {
    attributes[key] =
      value?.stringValue ??
      value?.boolValue ??
      (value?.intValue === undefined ? undefined : Number(value.intValue)) ??
      value?.doubleValue;
  }
  return attributes;
}
