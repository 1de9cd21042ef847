// The admin dashboard's script. Polls /v1/instances, turns each instance's cumulative counters into
// cluster-wide rates, and offers drain and disconnect. The admin token, when the relay asks for one, lives
// in a variable of this closure only: never in storage, cookies or the URL.
(() => {
  const POLL_MS = 1500;
  const WINDOW_MS = 5 * 60_000;
  const TOP_ROOMS = 10;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  const loadedAt = Date.now();

  let token;
  let selfId;
  let pollTimer;
  let openRoom;
  let lastInstances = [];
  /** instanceId → the last heartbeat seen and the rates derived from it. */
  const tracked = new Map();
  /** One point per poll: cluster-wide rates. */
  const samples = [];
  /** Recoveries as they show up in heartbeats: { t, recovered, failed }. */
  const recoveryEvents = [];
  /** Room key → { text, title }: the last presence count of each listed room that keeps presence. */
  const present = new Map();

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }
  class TokenNeeded extends Error {}

  async function api(path, init = {}) {
    const headers = new Headers(init.headers);
    if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
    let res;
    try {
      res = await fetch(path, { ...init, headers, cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'UNREACHABLE', 'the admin API is unreachable');
    }
    if (res.status === 401) {
      askForToken(token !== undefined);
      throw new TokenNeeded();
    }
    const text = await res.text();
    let body = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      // A proxy's HTML error page, for instance: reported below by status.
    }
    if (!res.ok) {
      throw new ApiError(res.status, body.error?.code ?? `HTTP ${res.status}`, body.error?.message ?? '');
    }
    return body;
  }

  const describe = (err) =>
    err instanceof ApiError ? `${err.code}${err.message ? `: ${err.message}` : ''}` : String(err);

  function setStatus(status, text) {
    const el = $('status');
    el.dataset.status = status;
    el.textContent = text;
  }

  let noticeTimer;
  function notice(text, kind = 'info') {
    const el = $('notice');
    el.textContent = text;
    el.dataset.kind = kind;
    el.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      el.hidden = true;
    }, 8000);
  }

  // ---- token prompt -------------------------------------------------------------------------------

  function askForToken(rejected) {
    clearTimeout(pollTimer);
    setStatus('auth', 'admin token required');
    $('auth-error').hidden = !rejected;
    const dialog = $('auth');
    if (!dialog.open) dialog.showModal();
    $('token').focus();
  }
  $('auth').addEventListener('cancel', (event) => event.preventDefault());
  $('auth-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token').value;
    $('token').value = '';
    $('auth').close();
    poll();
  });

  // ---- confirmation -------------------------------------------------------------------------------

  function confirmAction(text, okLabel) {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel;
    return new Promise((resolve) => {
      const finish = (answer) => {
        $('confirm-ok').onclick = null;
        $('confirm-cancel').onclick = null;
        dialog.oncancel = null;
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      $('confirm-ok').onclick = () => finish(true);
      $('confirm-cancel').onclick = () => finish(false);
      dialog.oncancel = () => finish(false);
      dialog.showModal();
      $('confirm-cancel').focus();
    });
  }

  // ---- polling ------------------------------------------------------------------------------------

  async function poll() {
    clearTimeout(pollTimer);
    try {
      const { instances } = await api('/v1/instances');
      if (selfId === undefined) selfId = (await api('/v1/stats')).instanceId;
      // The rooms show at once; their presence counts fill in once fetched.
      await countPresence(update(instances));
      renderRooms(instances);
      setStatus('ok', `live · ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      if (err instanceof TokenNeeded) return; // resumes once a token is entered
      setStatus('error', describe(err));
    }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  /** Rates from successive heartbeats of each instance; a restarted instance starts over. */
  function track(instances, now) {
    const live = new Set();
    for (const info of instances) {
      live.add(info.instanceId);
      const seen = Date.parse(info.lastSeen);
      const totals = {
        publishes: info.publishesTotal ?? 0,
        recovered: info.recoveriesTotal ?? 0,
        failed: info.recoveryFailuresTotal ?? 0,
      };
      let prev = tracked.get(info.instanceId);
      if (!prev || prev.startedAt !== info.startedAt) {
        // An instance (re)started while this page watches counts from zero, so the recoveries it took
        // right after a restart show up; one that was already running counts from what it reports now.
        const started = Date.parse(info.startedAt);
        const fresh = prev !== undefined || started >= loadedAt;
        const zero = { publishes: 0, recovered: 0, failed: 0 };
        prev = fresh
          ? { startedAt: info.startedAt, seen: started, totals: zero, rates: undefined }
          : { startedAt: info.startedAt, seen, totals, rates: undefined };
        tracked.set(info.instanceId, prev);
      }
      if (seen <= prev.seen) continue;
      const seconds = (seen - prev.seen) / 1000;
      const delta = (key) => Math.max(0, totals[key] - prev.totals[key]);
      prev.rates = {
        messages: delta('publishes') / seconds,
        recovered: delta('recovered') / seconds,
        failed: delta('failed') / seconds,
      };
      if (delta('recovered') || delta('failed')) {
        recoveryEvents.push({ t: now, recovered: delta('recovered'), failed: delta('failed') });
      }
      prev.seen = seen;
      prev.totals = totals;
    }
    for (const id of tracked.keys()) if (!live.has(id)) tracked.delete(id);

    const sample = { t: now, messages: 0, recovered: 0, failed: 0 };
    for (const { rates } of tracked.values()) {
      if (!rates) continue;
      sample.messages += rates.messages;
      sample.recovered += rates.recovered;
      sample.failed += rates.failed;
    }
    samples.push(sample);
    while (samples.length > 0 && samples[0].t < now - WINDOW_MS) samples.shift();
    while (recoveryEvents.length > 0 && recoveryEvents[0].t < now - WINDOW_MS) recoveryEvents.shift();
    return sample;
  }

  /** Returns the rooms listed. */
  function update(instances) {
    const now = Date.now();
    lastInstances = instances;
    const sample = track(instances, now);
    const connections = instances.reduce((sum, i) => sum + (i.connections ?? 0), 0);
    $('total-instances').textContent = String(instances.length);
    $('total-connections').textContent = String(connections);
    $('rate-messages').textContent = formatRate(sample.messages);
    const recovered = recoveryEvents.reduce((sum, e) => sum + e.recovered, 0);
    const failed = recoveryEvents.reduce((sum, e) => sum + e.failed, 0);
    $('recoveries-window').textContent = failed > 0 ? `${recovered} · ${failed} new` : String(recovered);
    renderInstances(instances);
    const rooms = renderRooms(instances);
    drawChart($('chart-messages'), now, [{ key: 'messages', className: 'series-messages' }]);
    drawChart($('chart-recoveries'), now, [
      { key: 'recovered', className: 'series-ok' },
      { key: 'failed', className: 'series-bad' },
    ]);
    return rooms;
  }

  /**
   * Counts the distinct users of each listed room that keeps presence, cluster-wide, into `present`. A
   * failed count shows as "?" (with the error as its tooltip) and leaves the others be.
   */
  async function countPresence(rooms) {
    const listed = new Set(rooms.map((r) => r.key));
    for (const key of present.keys()) if (!listed.has(key)) present.delete(key);
    await Promise.all(
      rooms
        .filter((r) => r.presence)
        .map(async ({ key, namespace, room }) => {
          try {
            const path = `/v1/rooms/${encodeURIComponent(room)}/presence?namespace=${encodeURIComponent(namespace)}`;
            const { users } = await api(path);
            present.set(key, { text: String(users.length), title: '' });
          } catch (err) {
            if (err instanceof TokenNeeded) throw err;
            present.set(key, { text: '?', title: describe(err) });
          }
        }),
    );
  }

  // ---- tables -------------------------------------------------------------------------------------

  /** Keeps one row per key, in order, updating rows in place so buttons survive a refresh. */
  function syncRows(tbody, items, keyOf, create, fill) {
    const existing = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
    const rows = items.map((item) => {
      const key = keyOf(item);
      let row = existing.get(key);
      existing.delete(key);
      if (!row) {
        row = create(item);
        row.dataset.key = key;
      }
      fill(row, item);
      return row;
    });
    tbody.replaceChildren(...rows);
  }

  function cells(row, names) {
    for (const name of names) {
      const td = document.createElement('td');
      td.className = name;
      row.append(td);
    }
  }

  function button(text, className, onClick) {
    const el = document.createElement('button');
    el.type = 'button';
    el.className = className;
    el.textContent = text;
    el.addEventListener('click', onClick);
    return el;
  }

  function renderInstances(instances) {
    syncRows(
      $('instances').tBodies[0],
      instances,
      (i) => i.instanceId,
      (info) => {
        const row = document.createElement('tr');
        row.dataset.instanceId = info.instanceId;
        cells(row, ['id', 'transport', 'connections num', 'rooms num', 'state', 'uptime num', 'actions']);
        row.cells[6].append(button('Drain…', 'drain', () => drainInstance(row.dataset.instanceId)));
        return row;
      },
      (row, info) => {
        const id = row.cells[0];
        id.textContent = info.instanceId;
        if (info.instanceId === selfId) {
          const badge = document.createElement('span');
          badge.className = 'badge';
          badge.textContent = 'this dashboard';
          id.append(' ', badge);
        }
        row.cells[1].textContent = `${info.transport} · ${info.adapter}`;
        row.cells[2].textContent = String(info.connections ?? 0);
        row.cells[3].textContent = String(info.rooms ?? 0);
        row.cells[4].textContent = info.draining ? 'draining' : 'serving';
        row.cells[4].dataset.state = info.draining ? 'draining' : 'serving';
        row.cells[5].textContent = formatDuration(Date.parse(info.lastSeen) - Date.parse(info.startedAt));
        row.querySelector('button.drain').disabled = Boolean(info.draining);
      },
    );
  }

  /**
   * Sums each instance's largest local rooms: exact for rooms that are in every instance's top list.
   * Returns the rooms listed.
   */
  function renderRooms(instances) {
    const byRoom = new Map();
    for (const info of instances) {
      for (const { namespace, room, members, presence } of info.topRooms ?? []) {
        const key = `${namespace}\u0000${room}`;
        const entry = byRoom.get(key) ?? { key, namespace, room, members: 0, instances: 0, presence: false };
        entry.members += members;
        entry.instances += 1;
        entry.presence ||= presence === true;
        byRoom.set(key, entry);
      }
    }
    const top = [...byRoom.values()]
      .sort((a, b) => b.members - a.members || a.room.localeCompare(b.room))
      .slice(0, TOP_ROOMS);
    $('rooms-empty').hidden = top.length > 0;
    syncRows(
      $('rooms').tBodies[0],
      top,
      (r) => r.key,
      (r) => {
        const row = document.createElement('tr');
        row.dataset.room = r.room;
        row.dataset.namespace = r.namespace;
        cells(row, ['namespace', 'room', 'members num', 'present num', 'instances num', 'actions']);
        row.cells[5].append(
          button('Sockets', 'sockets', () => showRoomSockets(row.dataset.namespace, row.dataset.room)),
        );
        return row;
      },
      (row, r) => {
        row.cells[0].textContent = r.namespace;
        row.cells[1].textContent = r.room;
        row.cells[2].textContent = String(r.members);
        const count = r.presence
          ? (present.get(r.key) ?? { text: '…', title: '' })
          : { text: '–', title: '' };
        row.cells[3].textContent = count.text;
        row.cells[3].title = count.title;
        row.cells[4].textContent = String(r.instances);
      },
    );
    return top;
  }

  // ---- actions ------------------------------------------------------------------------------------

  async function drainInstance(instanceId) {
    const info = lastInstances.find((i) => i.instanceId === instanceId);
    const others = lastInstances.filter((i) => i.instanceId !== instanceId && !i.draining).length;
    let text =
      `Drain ${instanceId}? It stops taking clients, closes its ${info?.connections ?? 0} connections ` +
      'at its drain rate (they reconnect and recover elsewhere) and exits.';
    if (others === 0) text += ' No other instance is serving: its clients have nowhere to go.';
    if (instanceId === selfId) text += ' This dashboard is served by it and stops updating when it exits.';
    if (!(await confirmAction(text, `Drain ${instanceId}`))) return;
    try {
      await api(`/v1/instances/${encodeURIComponent(instanceId)}/drain`, { method: 'POST' });
      notice(`Drain of ${instanceId} started.`);
      poll();
    } catch (err) {
      if (!(err instanceof TokenNeeded)) notice(`Drain of ${instanceId} failed: ${describe(err)}`, 'error');
    }
  }

  async function disconnectSocket(namespace, socketId) {
    const text =
      `Disconnect socket ${socketId} (namespace ${namespace})? The client is told the server ` +
      'disconnected it and does not reconnect by itself.';
    if (!(await confirmAction(text, 'Disconnect'))) return false;
    try {
      await api(`/v1/sockets/${encodeURIComponent(socketId)}?namespace=${encodeURIComponent(namespace)}`, {
        method: 'DELETE',
      });
      notice(`Socket ${socketId} disconnected.`);
      return true;
    } catch (err) {
      if (!(err instanceof TokenNeeded))
        notice(`Disconnect of ${socketId} failed: ${describe(err)}`, 'error');
      return false;
    }
  }

  async function showRoomSockets(namespace, room) {
    openRoom = { namespace, room };
    $('room-sockets').hidden = false;
    $('room-sockets-name').textContent = namespace === '/' ? room : `${namespace} ${room}`;
    const list = $('room-sockets-list');
    let sockets;
    try {
      const path = `/v1/rooms/${encodeURIComponent(room)}/sockets?namespace=${encodeURIComponent(namespace)}`;
      ({ sockets } = await api(path));
    } catch (err) {
      if (!(err instanceof TokenNeeded)) notice(`Listing ${room} failed: ${describe(err)}`, 'error');
      return;
    }
    if (openRoom?.room !== room || openRoom?.namespace !== namespace) return;
    list.replaceChildren(
      ...sockets.map((id) => {
        const li = document.createElement('li');
        li.dataset.socketId = id;
        const code = document.createElement('code');
        code.textContent = id;
        li.append(
          code,
          ' ',
          button('Disconnect…', 'disconnect', async () => {
            if (await disconnectSocket(namespace, id)) showRoomSockets(namespace, room);
          }),
        );
        return li;
      }),
    );
    if (sockets.length === 0) {
      const li = document.createElement('li');
      li.className = 'hint';
      li.textContent = 'no sockets in this room';
      list.append(li);
    }
  }
  $('room-sockets-refresh').addEventListener('click', () => {
    if (openRoom) showRoomSockets(openRoom.namespace, openRoom.room);
  });
  $('room-sockets-close').addEventListener('click', () => {
    openRoom = undefined;
    $('room-sockets').hidden = true;
  });
  $('disconnect-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = $('socket-id').value.trim();
    const namespace = $('socket-namespace').value.trim() || '/';
    if (id && (await disconnectSocket(namespace, id))) $('socket-id').value = '';
  });

  // ---- charts -------------------------------------------------------------------------------------

  const svgEl = (name, attrs) => {
    const el = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
    return el;
  };

  /** A line chart of `series` over the last WINDOW_MS, scaled to a round maximum. */
  function drawChart(svg, now, series) {
    const [width, height, top, bottom] = [600, 150, 14, 4];
    let peak = 0;
    for (const s of samples) for (const { key } of series) peak = Math.max(peak, s[key]);
    const max = niceCeiling(peak);
    const x = (t) => ((t - (now - WINDOW_MS)) / WINDOW_MS) * width;
    const y = (v) => top + (1 - v / max) * (height - top - bottom);
    const children = [
      svgEl('line', { x1: 0, x2: width, y1: y(max), y2: y(max), class: 'grid' }),
      svgEl('line', { x1: 0, x2: width, y1: y(max / 2), y2: y(max / 2), class: 'grid' }),
      svgEl('line', { x1: 0, x2: width, y1: y(0), y2: y(0), class: 'axis' }),
    ];
    const label = svgEl('text', { x: 4, y: y(max) - 3, class: 'label' });
    label.textContent = `${formatRate(max)}/s`;
    children.push(label);
    for (const { key, className } of series) {
      if (samples.length === 0) break;
      const points = samples.map((s) => `${x(s.t).toFixed(1)},${y(s[key]).toFixed(1)}`);
      if (series.length === 1) {
        const first = x(samples[0].t).toFixed(1);
        const last = x(samples[samples.length - 1].t).toFixed(1);
        children.push(
          svgEl('polygon', {
            points: `${first},${y(0)} ${points.join(' ')} ${last},${y(0)}`,
            class: `${className} area`,
          }),
        );
      }
      children.push(svgEl('polyline', { points: points.join(' '), class: className }));
    }
    svg.replaceChildren(...children);
  }

  /** The smallest 1, 2 or 5 × 10^n at or above `value` (at least 1). */
  function niceCeiling(value) {
    if (!(value > 1)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  function formatRate(value) {
    if (value >= 100) return String(Math.round(value));
    if (value >= 10) return value.toFixed(0);
    return value.toFixed(1).replace(/\.0$/, '');
  }

  function formatDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const [d, h, m] = [Math.floor(s / 86400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
    if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
    return `${s}s`;
  }

  if (document.body.dataset.tokenRequired === 'true') askForToken(false);
  else poll();
})();
