import type { Page } from '../transport/transport.js';

/** A minimal chat page on `/`: joins `?room=` (default lobby) and publishes typed lines to it. */
export const demoPage: Page = {
  contentType: 'text/html; charset=utf-8',
  body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Edge Relay demo</title>
<style>body{font:15px system-ui,sans-serif;margin:2rem;max-width:40rem}#log{border:1px solid #ccc;height:16rem;overflow:auto;padding:.5rem}#state{color:#555}</style>
</head><body>
<h1>Edge Relay</h1>
<p id="state">connecting…</p>
<div id="log"></div>
<p><input id="message" autocomplete="off" placeholder="say something"> <button id="send">Send</button></p>
<script src="/socket.io/socket.io.js"></script>
<script>
const room = new URLSearchParams(location.search).get('room') || 'lobby';
const from = 'guest-' + Math.random().toString(36).slice(2, 6);
const socket = io();
const log = (text) => { const p = document.createElement('div'); p.textContent = text; document.getElementById('log').append(p); };
const state = (text) => { document.getElementById('state').textContent = text; };
socket.on('connect', () => {
  socket.emit('join', room, () => socket.emit('whoami', (me) => {
    state('connected to ' + me.instanceId + ' (' + me.transport + '), room ' + room + (me.recovered ? ', recovered' : ''));
  }));
});
socket.on('disconnect', () => state('reconnecting…'));
socket.on('chat', (data) => log((data && data.from ? data.from + ': ' : '') + (data && data.text)));
const send = () => {
  const input = document.getElementById('message');
  if (!input.value) return;
  socket.emit('publish', { room, event: 'chat', data: { text: input.value, from } }, () => {});
  input.value = '';
};
document.getElementById('send').onclick = send;
document.getElementById('message').onkeydown = (e) => { if (e.key === 'Enter') send(); };
</script>
</body></html>
`,
};
