// The display page: frames and predictions arrive as server-sent events; each frame is drawn on
// the canvas with the boxes of the Prediction that has the same trace id (solid), or, until that
// one arrives, the latest prediction's boxes (dashed).
'use strict';

const canvas = document.getElementById('canvas');
const ctx = canvas.getContext('2d');
const $ = (id) => document.getElementById(id);
const COLORS = { person: '#ffb020', face: '#37d67a' };
const predictionsByTrace = new Map();  // trace id -> prediction (bounded)
let latestPrediction = null;
let shown = null;        // { frame event, bitmap } on the canvas
let pending = null;      // newest frame event not yet drawn
let decoding = false;
const browserLatency = [];
let traceUrl = '';       // from /api/config: a URL with {trace_id} (e.g. Jaeger's UI), or ''

function colorOf(label) { return COLORS[label] || '#c77dff'; }

function remember(prediction) {
  predictionsByTrace.set(prediction.trace_id, prediction);
  if (predictionsByTrace.size > 300) {
    predictionsByTrace.delete(predictionsByTrace.keys().next().value);
  }
  latestPrediction = prediction;
}

function drawBoxes(prediction, exact) {
  if (!prediction) return;
  ctx.lineWidth = Math.max(2, canvas.width / 320);
  ctx.font = `${Math.max(12, canvas.width / 50)}px system-ui, sans-serif`;
  ctx.setLineDash(exact ? [] : [6, 4]);
  for (const d of prediction.detections) {
    const color = colorOf(d.label);
    ctx.strokeStyle = color;
    ctx.strokeRect(d.x, d.y, d.w, d.h);
    const text = `${d.label} ${d.score.toFixed(2)}`;
    const w = ctx.measureText(text).width + 8;
    const h = parseInt(ctx.font, 10) + 6;
    ctx.fillStyle = color;
    ctx.fillRect(d.x, Math.max(0, d.y - h), w, h);
    ctx.fillStyle = '#000';
    ctx.fillText(text, d.x + 4, Math.max(0, d.y - h) + h - 5);
  }
  ctx.setLineDash([]);
}

function showLabels(prediction, exact) {
  const list = $('labels');
  list.replaceChildren();
  if (!prediction || prediction.detections.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = prediction ? 'no objects' : 'nothing yet';
    list.append(li);
    return;
  }
  const counts = new Map();
  for (const d of prediction.detections) counts.set(d.label, (counts.get(d.label) || 0) + 1);
  for (const [label, n] of counts) {
    const li = document.createElement('li');
    li.className = 'label ' + (COLORS[label] ? label : 'other');
    li.dataset.label = label;
    li.textContent = n > 1 ? `${label} × ${n}` : label;
    if (!exact) li.title = `from frame ${prediction.frame}`;
    list.append(li);
  }
}

function render() {
  if (!shown) return;
  const f = shown.frame;
  if (canvas.width !== f.width || canvas.height !== f.height) {
    canvas.width = f.width;
    canvas.height = f.height;
  }
  ctx.drawImage(shown.bitmap, 0, 0);
  const own = predictionsByTrace.get(f.trace_id);
  const prediction = own || latestPrediction;
  drawBoxes(prediction, Boolean(own));
  showLabels(prediction, Boolean(own));
  $('caption').textContent =
      `${f.source} · frame ${f.frame} · trace ${f.trace_id}` +
      (own ? ` · ${own.model} ${own.inference_ms.toFixed(0)} ms`
           : prediction ? ` · boxes from frame ${prediction.frame}` : '');
}

async function drawPending() {
  if (decoding || !pending) return;
  decoding = true;
  const f = pending;
  pending = null;
  try {
    const bytes = Uint8Array.from(atob(f.jpeg), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
    if (shown && shown.bitmap.close) shown.bitmap.close();
    shown = { frame: f, bitmap };
    render();
    if (f.capture_time > 0) {
      browserLatency.push(Date.now() - f.capture_time * 1000);
      if (browserLatency.length > 100) browserLatency.shift();
    }
  } catch (e) {
    console.warn('frame not drawn', e);
  } finally {
    decoding = false;
    if (pending) requestAnimationFrame(drawPending);
  }
}

function addRecent(p) {
  const row = document.createElement('tr');
  const cells = [p.frame, p.objects.join(', ') || '–', p.inference_ms.toFixed(0),
                 p.trace_id.slice(0, 8)];
  cells.forEach((value, i) => {
    const td = document.createElement('td');
    if (i === 3 && traceUrl && p.trace_id) {
      const a = document.createElement('a');
      a.href = traceUrl.replace('{trace_id}', encodeURIComponent(p.trace_id));
      a.target = '_blank';
      a.rel = 'noopener';
      a.textContent = value;
      td.append(a);
    } else {
      td.textContent = value;
    }
    if (i === 3) { td.className = 'trace'; td.title = p.trace_id; }
    row.append(td);
  });
  const body = $('recent');
  body.prepend(row);
  while (body.children.length > 12) body.lastChild.remove();
}

function setConnection(text, kind) {
  const el = $('connection');
  el.textContent = text;
  el.className = `pill pill-${kind}`;
}

function connect() {
  const events = new EventSource('/api/events');
  events.onopen = () => setConnection('live', 'ok');
  events.onerror = () => setConnection('reconnecting…', 'wait');
  events.addEventListener('frame', (e) => {
    pending = JSON.parse(e.data);
    requestAnimationFrame(drawPending);
  });
  events.addEventListener('prediction', (e) => {
    const p = JSON.parse(e.data);
    remember(p);
    addRecent(p);
    if (shown && shown.frame.trace_id === p.trace_id) render();
  });
}

function median(values) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function refreshStats() {
  try {
    const r = await fetch('/api/stats', { cache: 'no-store' });
    const s = await r.json();
    const fmt = (v, digits = 0) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));
    $('fps').textContent = fmt(s.frames.fps, 1);
    $('latency').textContent = s.frames.received ? fmt(s.latency_ms.p50) : '–';
    $('latency99').textContent = s.frames.received ? fmt(s.latency_ms.p99) : '–';
    $('pps').textContent = fmt(s.predictions.per_second, 1);
    const lags = Object.values(s.consumer_lag).filter((v) => v >= 0);
    $('lag').textContent = lags.length ? lags.reduce((a, b) => a + b, 0) : '–';
    const m = median(browserLatency);
    $('browser-latency').textContent = m === null ? '–' : m.toFixed(0);
  } catch (e) {
    setConnection('display unreachable', 'bad');
  }
}

// The page's settings first (the trace link), then the events; without them the page still runs.
fetch('/api/config', { cache: 'no-store' })
  .then((r) => r.json())
  .then((c) => { traceUrl = c.trace_url || ''; })
  .catch(() => {})
  .finally(connect);
refreshStats();
setInterval(refreshStats, 1000);
