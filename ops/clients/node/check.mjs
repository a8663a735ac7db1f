// A non-.NET client of the cluster, built only from this repository's .proto files (Node.js, @grpc/grpc-js):
// health, Tokenize, a streamed Generate, a two-turn Chat with its history, a request over the context
// (INVALID_ARGUMENT), cancellation mid-stream, DeleteSession, and health again. Exits 1 on any surprise.
//   cd ops/clients/node && npm ci && SEALION_API_KEY=$(cat ~/.cache/sealion/dev-api-key) node check.mjs [HOST:PORT]
// (default 127.0.0.1:50051; without SEALION_API_KEY the server must run with --no-auth)
import grpc from '@grpc/grpc-js';
import loader from '@grpc/proto-loader';
import assert from 'node:assert/strict';

const protos = new URL('../../../contracts/SeaLion.Contracts', import.meta.url).pathname;
const opts = { keepCase: true, includeDirs: [protos], longs: Number, enums: String, defaults: true, oneofs: true };
const addr = process.argv[2] || '127.0.0.1:50051';
const v1 = grpc.loadPackageDefinition(loader.loadSync('sealion/v1/inference.proto', opts)).sealion.v1;
const health = grpc.loadPackageDefinition(loader.loadSync('grpc/health/v1/health.proto', opts)).grpc.health.v1;
const c = new v1.Inference(addr, grpc.credentials.createInsecure());
const h = new health.Health(addr, grpc.credentials.createInsecure());
const md = new grpc.Metadata();
if (process.env.SEALION_API_KEY) md.add('authorization', 'Bearer ' + process.env.SEALION_API_KEY);
const unary = (client, method, req) => new Promise((res, rej) => client[method](req, md, (e, r) => (e ? rej(e) : res(r))));
const stream = (s) => new Promise((res) => {
  const ids = []; let text = '', last;
  s.on('data', (d) => { ids.push(...d.token_ids); text += d.text; last = d; });
  s.on('end', () => res({ ids, text, last }));
  s.on('error', (e) => res({ code: grpc.status[e.code], details: e.details }));
});
const greedy = (n) => ({ max_tokens: n, temperature: 0, ignore_eos: true });

const hs = await unary(h, 'Check', { service: '' });
console.log('health:', hs.status); assert.equal(hs.status, 'SERVING');

const tok = await unary(c, 'Tokenize', { text: 'Xin chào <|eot_id|>' });
console.log('tokenize:', JSON.stringify(tok.token_ids)); assert.equal(tok.token_ids.at(-1), 128009);

const g = await stream(c.Generate({ text: 'Halo', sampling: greedy(6) }, md));
console.log('generate:', g.ids.length, 'tokens,', g.last.finish_reason, JSON.stringify(g.last.usage));
assert.equal(g.ids.length, 6); assert.equal(g.last.finish_reason, 'FINISH_REASON_LENGTH');

const sid = 'node-' + Date.now();
const t1 = await stream(c.Chat({ session_id: sid, messages: [{ role: 'user', content: 'Halo! ' + 'Saya ingin belajar bahasa Thai. '.repeat(12) }], sampling: greedy(8) }, md));
const t2 = await stream(c.Chat({ session_id: sid, messages: [{ role: 'user', content: 'Lanjut.' }], sampling: greedy(8) }, md));
console.log('chat: turn 1', JSON.stringify(t1.last.usage), '| turn 2', JSON.stringify(t2.last.usage));
assert.ok(t2.last.usage.cached_tokens >= Math.floor(t1.last.usage.prompt_tokens / 16) * 16, 'turn 2 should reuse turn 1 from the prefix cache');
const sess = await unary(c, 'GetSession', { session_id: sid });
console.log('session:', sess.messages.map((m) => m.role).join(','));
assert.deepEqual(sess.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);

const over = await stream(c.Generate({ token_ids: { ids: [1, 2] }, sampling: { max_tokens: 9000 } }, md));
console.log('over the context:', over.code, '|', over.details); assert.equal(over.code, 'INVALID_ARGUMENT');

const cancelled = await new Promise((res) => {
  const s = c.Generate({ text: 'Halo', sampling: { max_tokens: 2000, ignore_eos: true } }, md);
  let n = 0;
  s.on('data', () => { if (++n === 3) s.cancel(); });
  s.on('error', (e) => res(grpc.status[e.code]));
  s.on('end', () => res('END'));
});
console.log('cancel mid-stream:', cancelled); assert.equal(cancelled, 'CANCELLED');

const del = await unary(c, 'DeleteSession', { session_id: sid });
console.log('delete:', JSON.stringify(del)); assert.equal(del.deleted, true);
const after = await unary(h, 'Check', { service: '' });
console.log('health after:', after.status); assert.equal(after.status, 'SERVING');
const again = await stream(c.Generate({ text: 'Halo', sampling: greedy(3) }, md));
assert.equal(again.ids.length, 3);
console.log('ok: every check passed against', addr);
c.close(); h.close();
