const T = JSON.parse(document.getElementById('trace-data').textContent);
const PARTS = ['activation', 'copy', 'next2', 'next', 'verdict'];
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
document.querySelectorAll('.w').forEach(el => {
  const s = T.steps[+el.dataset.step], w = s.candidates[s.chosen];
  if (w && w.parts.copy > 0) el.classList.add('copied');
  if (s.speculative) el.classList.add('spec');
  el.addEventListener('click', () => show(+el.dataset.step));
  el.addEventListener('mouseenter', () => { if (!document.querySelector('.w.sel')) show(+el.dataset.step, true); });
  el.addEventListener('keydown', e => { if (e.key === 'Enter') show(+el.dataset.step); });
});
function show(i, hover) {
  const s = T.steps[i];
  document.querySelectorAll('.w').forEach(e => e.classList.toggle('sel', !hover && +e.dataset.step === i));
  document.getElementById('panel').classList.remove('empty');
  document.getElementById('step-title').textContent =
    `Step ${s.step}: "${s.text || '</s>'}" won against ${s.n_candidates - 1} other candidates` +
    (s.speculative ? ' (verified speculatively)' : '') + ` · context: …${s.context_tail}`;
  const maxPart = Math.max(1e-9, ...s.candidates.flatMap(c => PARTS.map(p => c.parts[p])));
  const minLlm = Math.min(...s.candidates.map(c => c.llm).filter(isFinite), -1);
  const rows = s.candidates.map((c, k) => {
    const bars = PARTS.map(p => c.parts[p] > 0 ?
      `<span class="bar ${p}" title="${p} ${c.parts[p].toFixed(3)}" style="width:${(60 * c.parts[p] / maxPart).toFixed(1)}px"></span>` : '').join('');
    const llmw = isFinite(c.llm) ? (60 * (1 - c.llm / minLlm)).toFixed(1) : 0;
    return `<tr class="cand${k === s.chosen ? ' win' : ''}" data-text="${esc(c.text)}"><td>${k + 1}</td><td>${esc(c.text)}</td>` +
      `<td><span class="bar llm" style="width:${llmw}px"></span> ${c.llm.toFixed(2)}</td><td>${bars}</td>` +
      `<td>${c.graph.toFixed(3)}</td><td>${c.score.toFixed(2)}</td></tr>`;
  });
  document.querySelector('#candidates tbody').innerHTML = rows.join('');
  const win = s.candidates[s.chosen], pids = new Set();
  document.getElementById('edges').innerHTML = (win.edges || []).map(e => {
    if (e.rel === 'copy') { pids.add(e.passage); return `<li>copy: continues passage ${e.passage} at word ${e.position} (match of ${e.match})</li>`; }
    if (e.rel === 'activation') return `<li>activation from ${esc(e.from)}</li>`;
    if (e.rel === 'verdict') return `<li>users' verdict after ${esc(e.src.join(' '))} → ${esc(e.dst)}: ${e.weight.toFixed(2)}</li>`;
    (e.passages || []).forEach(p => pids.add(p));
    return `<li>${e.rel}: ${esc(e.src.join(' '))} → ${esc(e.dst)} · weight ${e.weight.toFixed(3)} · count ${e.count} · passages ${e.passages.join(', ')}</li>`;
  }).join('') || '<li>no graph edge: chosen by the LLM among the graph\'s words</li>';
  document.getElementById('passages').innerHTML = [...pids].slice(0, 4).map(p => {
    const ps = T.passages[String(p)];
    return ps ? `<div class="passage"><b>${esc(ps.title || 'passage ' + p)}</b> (${p}): ${esc(ps.text.slice(0, 400))}…</div>` : '';
  }).join('');
  drawHood(s.text);
}
function drawHood(word) {
  const svg = document.getElementById('hood'), ns = T.neighbours[word] || [];
  const cx = 160, cy = 150, r = 110;
  let out = '';
  ns.forEach((n, k) => {
    const a = 2 * Math.PI * k / Math.max(ns.length, 1), x = cx + r * Math.cos(a), y = cy + r * Math.sin(a);
    out += `<line x1="${cx}" y1="${cy}" x2="${x}" y2="${y}" stroke="${n.rel === 'next' ? '#b85450' : '#6c8ebf'}" stroke-width="${1 + 3 * Math.min(1, n.weight)}"/>` +
      `<text x="${x}" y="${y}" text-anchor="middle" dy="-3">${esc(n.word)}</text>`;
  });
  out += `<circle cx="${cx}" cy="${cy}" r="5" fill="#222"/><text x="${cx}" y="${cy - 9}" text-anchor="middle" font-weight="bold">${esc(word || '</s>')}</text>`;
  if (!ns.length) out += `<text x="10" y="290">no neighbours in this snapshot</text>`;
  svg.innerHTML = out;
}
