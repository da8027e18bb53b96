import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../support/fake-openai.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Starts `src/main.ts` as its own process (a real SIGTERM needs a real process) and waits for its URL. */
async function startProcess(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; origin: string; output: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    // The response cache is off: the test needs every stream to be an upstream stream of its own.
    env: { PATH: process.env.PATH ?? '', PORT: '0', CACHE_ENABLED: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stderr?.on('data', (data: Buffer) => output.push(data.toString()));
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output.join('')}`)), 20_000);
    child.stdout?.on('data', (data: Buffer) => {
      const text = data.toString();
      output.push(text);
      const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(text);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${output.join('')}`)));
  });
  return { child, origin, output };
}

it('SIGTERM with 20 streams in flight: all 20 complete, new requests get 503, exit code 0', async () => {
  // Each stream takes about a second upstream: 20 chunks, 50 ms apart.
  const upstream = await startFakeOpenAI({ chunkDelayMs: 50 });
  upstream.setReply({ text: Array.from({ length: 20 }, (_, index) => `word${index}`).join(' ') });
  const gateway = await startProcess({
    OPENAI_API_KEY: 'sk-upstream',
    OPENAI_BASE_URL: upstream.url,
    SHUTDOWN_TIMEOUT_MS: '15000',
    LOG_LEVEL: 'info',
  });
  try {
    const client = new OpenAI({
      apiKey: 'unused',
      baseURL: `${gateway.origin}/v1`,
      maxRetries: 0,
      timeout: 20_000,
    });
    const streams = Array.from({ length: 20 }, async () => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'count' }],
      });
      let text = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      return { text, finish };
    });
    // Wait until every stream is open upstream, then signal.
    for (let i = 0; i < 200 && upstream.callsTo('/chat/completions').length < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(upstream.callsTo('/chat/completions').length, 20);
    // 'close', not 'exit': the last of stdout is read by then.
    const exited = once(gateway.child, 'close');
    gateway.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));

    const late = await fetch(`${gateway.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'late' }] }),
    });
    assert.equal(late.status, 503);
    assert.ok(late.headers.get('retry-after'), 'a 503 during shutdown says when to retry');
    assert.equal(((await late.json()) as { error: { code: string } }).error.code, 'shutting_down');

    const results = await Promise.all(streams);
    for (const result of results) {
      assert.equal(result.finish, 'stop');
      assert.equal(result.text, Array.from({ length: 20 }, (_, index) => `word${index}`).join(' '));
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
    assert.equal(
      upstream.callsTo('/chat/completions').length,
      20,
      'the late request never reached the upstream',
    );
    // The log is buffered; an exit must still write every served request's line.
    const requestLines = gateway.output
      .join('')
      .split('\n')
      .filter((line) => line.includes('"msg":"request"') && line.includes('/v1/chat/completions'))
      .map((line) => JSON.parse(line) as { status: number });
    assert.deepEqual(
      requestLines.map((line) => line.status),
      Array.from({ length: 20 }, () => 200),
      'one access-log line per stream',
    );
  } finally {
    if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
    await upstream.close();
  }
});
