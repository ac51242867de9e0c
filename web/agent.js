// The agent softphone: a SIP phone over /ws (JsSIP, WebRTC media through the
// switch's gateway) beside the API for the agent's state, its calls' context
// and its figures. Everything it loads comes from the switch: it works
// without internet access.
'use strict';

const $ = (id) => document.getElementById(id);
const agent = { ext: null, password: null, token: null, domain: null, ua: null, session: null,
  call: null, state: null, since: null, events: null, renew: null, queuedAt: null, contextFor: null };
// What a test (or a curious agent) can read: the last events and timings.
window.agentPage = { log: [], answeredAt: null, confirmedAt: null, registered: false };

function note(what) {
  window.agentPage.log.push(`${new Date().toISOString()} ${what}`);
}

function showError(message) {
  $('error').textContent = message || '';
  if (message) note(`error: ${message}`);
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${agent.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!response.ok) throw new Error((json && json.message) || `${method} ${path}: ${response.status}`);
  return json;
}

async function login(ext, password) {
  const response = await fetch('/api/agent/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ extension: ext, password }),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.message || `login: ${response.status}`);
  return json;
}

async function start(ext, password) {
  const session = await login(ext, password);
  Object.assign(agent, { ext, password, token: session.token, domain: session.domain });
  // Tokens are short-lived: renewed well before they run out.
  const renewMs = Math.max(60, session.expires_in_secs - 300) * 1000;
  agent.renew = setInterval(async () => {
    try { agent.token = (await login(agent.ext, agent.password)).token; } catch (e) { showError(e.message); }
  }, renewMs);
  $('who').textContent = `agent ${ext}`;
  $('login-box').classList.add('hidden');
  for (const id of ['state-box', 'call-box', 'figures-box']) $(id).classList.remove('hidden');
  note('logged in');
  startPhone();
  followEvents();
  refreshState();
  refreshFigures();
  setInterval(refreshState, 1000);
  setInterval(refreshFigures, 15000);
}

function startPhone() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new JsSIP.WebSocketInterface(`${scheme}://${location.host}/ws`);
  const ua = new JsSIP.UA({
    sockets: [socket],
    uri: `sip:${agent.ext}@${agent.domain}`,
    password: agent.password,
    register: true,
    session_timers: false,
    register_expires: 300,
  });
  ua.on('registered', () => { $('phone').textContent = 'registered'; window.agentPage.registered = true; note('registered'); });
  ua.on('unregistered', () => { $('phone').textContent = 'not registered'; window.agentPage.registered = false; });
  ua.on('registrationFailed', (e) => { $('phone').textContent = 'registration failed'; showError(`registration: ${e.cause}`); });
  ua.on('disconnected', () => { $('phone').textContent = 'offline'; window.agentPage.registered = false; });
  ua.on('newRTCSession', (e) => { if (e.originator === 'remote') incoming(e.session, e.request); });
  ua.start();
  // The microphone is opened once, at log-in, not at each answer: opening
  // it takes the browser a good part of the answer time otherwise.
  navigator.mediaDevices.getUserMedia({ audio: true, video: false })
    .then((stream) => { agent.mic = stream; note('microphone ready'); })
    .catch((e) => showError(`microphone: ${e.message}`));
  agent.ua = ua;
}

function incoming(session, request) {
  if (agent.session) { session.terminate({ status_code: 486 }); return; }
  agent.session = session;
  const from = request.from;
  $('caller').textContent = from ? [from.display_name, from.uri.user].filter(Boolean).join(' ') : '-';
  $('call-state').textContent = 'ringing';
  $('answer').disabled = false;
  $('hangup').disabled = false;
  note(`incoming ${$('caller').textContent}`);
  session.on('peerconnection', (e) => attachAudio(e.peerconnection));
  // Answer with the first candidate instead of waiting for gathering to end
  // (JsSIP's default waits for every interface, often seconds): the switch
  // is ICE-lite and learns the browser's other addresses from its checks.
  session.on('icecandidate', (e) => { if (e.candidate && e.candidate.candidate) e.ready(); });
  session.on('accepted', () => { $('call-state').textContent = 'talking'; note('accepted'); });
  session.on('confirmed', () => { window.agentPage.confirmedAt = performance.now(); note('confirmed'); });
  session.on('hold', () => { $('call-state').textContent = 'on hold'; });
  session.on('unhold', () => { $('call-state').textContent = 'talking'; });
  const ended = (why) => () => {
    note(`call ${why}`);
    agent.session = null;
    agent.queuedAt = null;
    $('call-state').textContent = `ended (${why})`;
    for (const id of ['answer', 'hold', 'transfer', 'hangup']) $(id).disabled = true;
    refreshFigures();
  };
  session.on('ended', ended('ended'));
  session.on('failed', ended('failed'));
}

function attachAudio(pc) {
  pc.addEventListener('track', (e) => {
    const remote = $('remote');
    remote.srcObject = e.streams[0] || new MediaStream([e.track]);
    remote.play().catch(() => {});
  });
}

function answer() {
  if (!agent.session) return;
  window.agentPage.answeredAt = performance.now();
  note('answer clicked');
  // No STUN or TURN: the switch is ICE-lite and its address is in its
  // offer, so the browser's host candidates are all that is needed.
  const media = agent.mic ? { mediaStream: agent.mic } : { mediaConstraints: { audio: true, video: false } };
  agent.session.answer({ ...media, pcConfig: { iceServers: [] } });
  if (agent.session.connection) attachAudio(agent.session.connection);
  $('answer').disabled = true;
  $('hold').disabled = false;
  $('transfer').disabled = !agent.call;
}

function toggleHold() {
  const s = agent.session;
  if (!s) return;
  if (s.isOnHold().local) s.unhold(); else s.hold();
}

async function transfer() {
  const to = $('transfer-to').value.trim();
  if (!agent.call || !to) return;
  try {
    await api('POST', `/api/calls/${encodeURIComponent(agent.call)}/transfer`, { to });
    note(`transferred to ${to}`);
  } catch (e) { showError(e.message); }
}

function hangUp() {
  if (agent.session) { note('hang up clicked'); agent.session.terminate(); }
}

async function setState(state, reason) {
  try {
    await api('POST', `/api/agents/${encodeURIComponent(agent.ext)}/state`, reason ? { state, reason } : { state });
    showError('');
    refreshState();
  } catch (e) { showError(e.message); }
}

async function refreshState() {
  try {
    const { agents } = await api('GET', '/api/agents');
    const me = (agents || []).find((a) => a.id === agent.ext);
    if (!me) return;
    const shown = me.state === 'paused' && me.reason ? `paused (${me.reason})` : me.state;
    agent.state = me.state;
    agent.since = me.since;
    $('state').textContent = shown;
    $('since').textContent = `for ${Math.max(0, Math.round((Date.now() - me.since) / 1000))} s`;
    if (me.call && me.call !== agent.call && agent.session) {
      // The ACD's view names the call and its queue even when the event
      // stream is not there.
      agent.call = me.call;
      $('transfer').disabled = false;
      fillFromRecord(me.call);
    }
    if (me.queue && agent.session) $('queue').textContent = me.queue;
    const wrapping = me.state === 'wrap_up';
    $('wrapup').classList.toggle('hidden', !wrapping);
    if (wrapping) {
      // The time left, from when the ACD ends the wrap-up by itself.
      const left = me.wrap_up_ends == null ? null : Math.max(0, Math.ceil((me.wrap_up_ends - Date.now()) / 1000));
      $('wrapup-left').textContent = left == null ? '' : `${left} s left`;
      $('wrapup-left').dataset.endsAt = me.wrap_up_ends ?? '';
    }
  } catch (e) { showError(e.message); }
}

async function refreshFigures() {
  try {
    const stats = await api('GET', `/api/agents/${encodeURIComponent(agent.ext)}/stats?window=today`);
    const figures = $('figures');
    figures.textContent = '';
    const flat = stats.totals || stats;
    for (const [k, v] of Object.entries(flat)) {
      if (v === null || typeof v === 'object') continue;
      const dt = document.createElement('dt');
      dt.textContent = k.replace(/_/g, ' ');
      const dd = document.createElement('dd');
      dd.textContent = typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v);
      figures.append(dt, dd);
    }
  } catch (e) { /* figures are a nicety: the phone matters more */ }
}

// The call's context: the offer's event has it all (caller, language, IVR
// menu choices, queue, wait, call-back attributes); the live call record
// fills in what a missed event would have said.
function followEvents() {
  const url = `/api/events?agent=${encodeURIComponent(agent.ext)}&access_token=${encodeURIComponent(agent.token)}`;
  const events = new EventSource(url);
  const handle = (e) => {
    let event;
    try { event = JSON.parse(e.data); } catch (_) { return; }
    note(`event ${event.type}`);
    const d = event.data || {};
    if (event.type === 'call.offered') {
      agent.call = event.call_id;
      resetContext(event.call_id);
      $('caller').textContent = d.caller || '-';
      $('queue').textContent = event.queue || '-';
      $('language').textContent = d.language || '-';
      showChoices(d.menu_choices || []);
      const attributes = d.attributes && Object.keys(d.attributes).length
        ? Object.entries(d.attributes).map(([k, v]) => `${k}: ${v}`).join(', ') : '-';
      $('attributes').textContent = attributes;
      // The wait goes on while the phone rings: counted from the queue entry.
      agent.queuedAt = d.queued_at ? Date.parse(d.queued_at) : null;
      showWait();
      fillFromRecord(event.call_id);
    } else if (event.type === 'call.answered') {
      agent.call = event.call_id;
      agent.queuedAt = null;
      if (typeof d.wait_secs === 'number') $('waited').textContent = `${d.wait_secs.toFixed(1)} s`;
    }
  };
  for (const type of ['call.offered', 'call.answered', 'call.ended', 'agent.state_changed']) {
    events.addEventListener(type, handle);
  }
  events.onerror = () => note('event stream interrupted');
  events.onopen = () => note('event stream open');
  agent.events = events;
  setInterval(showWait, 1000);
}

// A new call's context starts empty (the last call's stays shown until then).
function resetContext(id) {
  if (agent.contextFor === id) return;
  agent.contextFor = id;
  agent.queuedAt = null;
  for (const field of ['queue', 'language', 'choices', 'waited', 'attributes']) $(field).textContent = '-';
}

function showWait() {
  if (agent.queuedAt == null || Number.isNaN(agent.queuedAt)) return;
  $('waited').textContent = `${Math.max(0, (Date.now() - agent.queuedAt) / 1000).toFixed(0)} s so far`;
}

// Menu choices as "menu: digits", in the order the caller made them.
function showChoices(choices) {
  $('choices').textContent = choices.length
    ? choices.map((c) => `${c.node}: ${c.digits}`).join(', ') : '-';
}

async function fillFromRecord(id) {
  try {
    const { calls } = await api('GET', '/api/calls?window=1h');
    const record = (calls || []).find((c) => c.id === id);
    if (!record) return;
    resetContext(id);
    if (record.caller) $('caller').textContent = record.caller;
    if (record.language) $('language').textContent = record.language;
    const enqueued = record.marks.filter((m) => m.what.kind === 'enqueued').pop();
    if (enqueued && agent.queuedAt == null && $('waited').textContent === '-') {
      agent.queuedAt = enqueued.at;
      showWait();
    }
    showChoices(record.marks.filter((m) => m.what.kind === 'menu_choice').map((m) => m.what));
  } catch (_) { /* context is shown as far as it is known */ }
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  start($('ext').value.trim(), $('password').value).catch((err) => showError(err.message));
});
$('available').addEventListener('click', () => setState(agent.state === 'logged_out' ? 'login' : 'resume'));
$('pause').addEventListener('click', () => setState('pause', $('reason').value.trim() || 'break'));
$('ready').addEventListener('click', () => setState('ready'));
$('logout').addEventListener('click', () => setState('logout'));
$('answer').addEventListener('click', answer);
$('hold').addEventListener('click', toggleHold);
$('transfer').addEventListener('click', transfer);
$('hangup').addEventListener('click', hangUp);
