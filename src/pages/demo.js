// The demo chat page's script (inlined into the page by src/pages/pages.ts). Joins `?room=` (default
// lobby), publishes `{ room, event: 'chat', data: { text, from } }` and shows where it is connected and
// how its last reconnect went, so a person can watch a rolling restart from here.
(() => {
  const params = new URLSearchParams(location.search);
  const room = params.get('room') || 'lobby';
  const from = (params.get('name') || `guest-${Math.random().toString(36).slice(2, 6)}`).slice(0, 64);
  const MAX_LINES = 500;

  const $ = (id) => document.getElementById(id);
  const logBox = $('log');
  const input = $('message');
  $('room').textContent = room;
  $('me').textContent = from;

  const line = (kind, parts) => {
    const div = document.createElement('div');
    div.className = `line ${kind}`;
    const time = document.createElement('time');
    time.textContent = new Date().toLocaleTimeString();
    div.append(time, ...parts);
    const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
    logBox.append(div);
    while (logBox.childElementCount > MAX_LINES) logBox.firstElementChild.remove();
    if (atBottom) logBox.scrollTop = logBox.scrollHeight;
  };
  const span = (className, text) => {
    const el = document.createElement('span');
    el.className = className;
    el.textContent = text;
    return el;
  };
  const system = (text, kind = 'system') => line(kind, [span('text', text)]);

  const setState = (state, text) => {
    const el = $('state');
    if (el.dataset.state !== state) system(text || state);
    el.dataset.state = state;
    el.textContent = text || state;
  };
  const setRecovered = (value, text) => {
    const el = $('recovered');
    el.dataset.recovered = value;
    el.textContent = text;
  };

  // `io` is the global of <path>socket.io.js, which Socket.IO serves on the relay's public port (--path).
  const path = document.documentElement.dataset.socketPath;
  const socket = io({ path, reconnectionDelay: 500, reconnectionDelayMax: 3000 });
  let connectedBefore = false;

  const showWhereabouts = () => {
    socket.timeout(5000).emit('whoami', (err, me) => {
      if (err || !me?.ok) return system('whoami failed', 'error');
      $('instance').textContent = me.instanceId;
      $('transport').textContent = `${me.transport} · ${me.engine}`;
      $('socket-id').textContent = me.socketId;
    });
  };

  socket.on('connect', () => {
    const engine = socket.io.engine;
    engine.once('upgrade', showWhereabouts);
    if (socket.recovered) {
      // Still in the room: the relay restored the session and replayed what was missed.
      setRecovered('yes', 'recovered (same session, missed messages replayed)');
      setState('recovered');
      showWhereabouts();
      return;
    }
    if (connectedBefore) setRecovered('no', 'not recovered (new session)');
    connectedBefore = true;
    socket.timeout(5000).emit('join', room, (err, reply) => {
      setState('connected');
      if (err) system(`join ${room}: no answer`, 'error');
      else if (!reply.ok) system(`join ${room}: ${reply.error.code} ${reply.error.message}`, 'error');
      showWhereabouts();
    });
  });

  socket.on('disconnect', (reason) => {
    if (socket.active) setState('reconnecting', `reconnecting (${reason})`);
    else setState('disconnected', `disconnected (${reason})`);
  });
  socket.on('connect_error', (err) => {
    if (socket.active) setState('reconnecting', 'reconnecting (server unreachable)');
    else setState('disconnected', `disconnected (${err.message})`);
  });

  socket.on('chat', (data) => {
    const who = typeof data?.from === 'string' ? data.from : 'anonymous';
    const text = typeof data?.text === 'string' ? data.text : JSON.stringify(data);
    line(who === from ? 'chat mine' : 'chat', [span('from', who), span('text', text)]);
  });

  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    socket.timeout(5000).emit('publish', { room, event: 'chat', data: { text, from } }, (err, reply) => {
      if (err) system('message not acknowledged (still reconnecting?)', 'error');
      else if (!reply.ok) system(`not sent: ${reply.error.code} ${reply.error.message}`, 'error');
    });
  });
  input.focus();
})();
