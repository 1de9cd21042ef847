// The demo chat page's script (inlined into the page by src/pages/pages.ts). Joins `?room=` (default
// lobby), publishes `{ room, event: 'chat', data: { text, from } }`, lists who is in the room when the room
// keeps presence, and shows where it is connected and how its last reconnect went, so a person can watch a
// rolling restart from here. `?token=<jwt>` goes to the relay as `auth.token` (for --jwt-secret).
(() => {
  const params = new URLSearchParams(location.search);
  const room = params.get('room') || 'lobby';
  const token = params.get('token');
  const name = params.get('name');
  let from = (name || `guest-${Math.random().toString(36).slice(2, 6)}`).slice(0, 64);
  /** The last `whoami` answer: its `userId` is the socket's user (absent without a verified token). */
  let whoami;
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
  const socket = io({
    path,
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
    ...(token ? { auth: { token } } : {}),
  });
  let connectedBefore = false;

  // ---- members: the room's presence ---------------------------------------------------------------

  const membersList = $('members');
  /** userId → sockets: the last `presence` answer, with the join and leave events since applied. */
  const members = new Map();
  /** loading, live, off (the room keeps no presence) or error; `presenceNote` says why when not live. */
  let presenceState = 'loading';
  let presenceNote = '';
  /** Events that arrive while a `presence` request is out, applied on top of its answer. */
  let queued;
  let presenceAsks = 0;

  const renderMembers = () => {
    const ids = [...members.keys()].sort();
    membersList.dataset.state = presenceState;
    membersList.replaceChildren(
      ...ids.map((id) => {
        const n = members.get(id);
        const li = document.createElement('li');
        li.dataset.user = id;
        li.dataset.sockets = String(n);
        if (id === whoami?.userId) li.className = 'me';
        li.append(span('user', id), ' ', span('sockets', `${n} socket${n === 1 ? '' : 's'}`));
        return li;
      }),
    );
    $('members-count').textContent = presenceState === 'live' ? `(${ids.length})` : '';
    let note = presenceNote;
    // whoami answered without a user: this page counts nowhere.
    if (presenceState === 'live' && whoami && whoami.userId === undefined)
      note = 'sign in with ?token= to appear here';
    $('members-note').textContent = note;
    $('members-note').hidden = note === '';
  };

  const applyPresence = (kind, id) => {
    // A join is the user's first socket; an answer that already counted them knows better.
    if (kind === 'join') members.set(id, members.get(id) ?? 1);
    else members.delete(id);
  };

  const askPresence = () => {
    const ask = ++presenceAsks;
    queued = [];
    socket.timeout(5000).emit('presence', room, (err, reply) => {
      if (ask !== presenceAsks) return; // a later request's answer is the one that counts
      const events = queued;
      queued = undefined;
      members.clear();
      presenceNote = '';
      if (err) {
        presenceState = 'error';
        presenceNote = 'presence: no answer';
      } else if (!reply.ok && reply.error.code === 'RLY_ERR_BAD_REQUEST') {
        presenceState = 'off';
        presenceNote = 'presence is off for this room';
      } else if (!reply.ok) {
        presenceState = 'error';
        presenceNote = `presence: ${reply.error.code}`;
      } else {
        presenceState = 'live';
        for (const user of reply.users) members.set(user.userId, user.sockets);
        for (const [kind, id] of events) applyPresence(kind, id);
      }
      renderMembers();
    });
  };

  for (const kind of ['join', 'leave']) {
    socket.on(`presence:${kind}`, (data) => {
      if (typeof data?.userId !== 'string') return;
      if (queued) queued.push([kind, data.userId]);
      else if (presenceState === 'live') {
        applyPresence(kind, data.userId);
        renderMembers();
      }
    });
  }

  // ---- connection ---------------------------------------------------------------------------------

  const showWhereabouts = () => {
    socket.timeout(5000).emit('whoami', (err, me) => {
      if (err || !me?.ok) return system('whoami failed', 'error');
      $('instance').textContent = me.instanceId;
      $('transport').textContent = `${me.transport} · ${me.engine}`;
      $('socket-id').textContent = me.socketId;
      whoami = me;
      // A signed-in user chats under their user id unless ?name= says otherwise.
      if (me.userId !== undefined && !name) from = me.userId;
      $('me').textContent =
        me.userId === undefined || me.userId === from ? from : `${from} (user ${me.userId})`;
      renderMembers();
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
      askPresence();
      return;
    }
    if (connectedBefore) setRecovered('no', 'not recovered (new session)');
    connectedBefore = true;
    socket.timeout(5000).emit('join', room, (err, reply) => {
      setState('connected');
      if (err) system(`join ${room}: no answer`, 'error');
      else if (!reply.ok) system(`join ${room}: ${reply.error.code} ${reply.error.message}`, 'error');
      showWhereabouts();
      askPresence();
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
  // A closed page never recovers its session: disconnecting says so at once, instead of the relay keeping
  // this member in the room's presence for its recovery window.
  addEventListener('pagehide', () => socket.disconnect());
  addEventListener('pageshow', (event) => {
    if (event.persisted) socket.connect();
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
