import ejs from 'ejs';
import express from 'express';

// Baseline for the page benchmark: a bare express + ejs server rendering a page of a given size
// (paragraphs of escaped text in a layout), nothing else.
//   node --import tsx scripts/bench/bare-page.ts <port> <bytes>

const [port, bytes] = process.argv.slice(2).map(Number) as [number, number];
const template = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title><%= title %></title></head><body><main>
<% for (const p of paragraphs) { %><p class="para"><%= p %></p>
<% } %></main></body></html>`;
const render = ejs.compile(template);
const sentence = 'Huang Xueqin (黄雪琴) & Wang Jianbing (王建兵) <must> be released. ';
const paragraphs: string[] = [];
while (Buffer.byteLength(render({ title: 'Bench', paragraphs })) < bytes) paragraphs.push(sentence.repeat(4));

const app = express();
app.get('/', (_req, res) => {
  res.type('html').send(render({ title: 'Bench', paragraphs }));
});
app.get('/healthz', (_req, res) => {
  res.send('ok');
});
const server = app.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
