"use strict";
// dancenow's page: three pages (hash routes), file pickers that upload, job cards kept up to date
// by polling the server, and the choreography stage (a canvas fed a chunk of frames at a time).
// No framework and no build step: this file is served as it is.

const $ = (sel, el = document) => el.querySelector(sel);
const $$ = (sel, el = document) => Array.from(el.querySelectorAll(sel));

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

let CONFIG = { max_upload_bytes: 0, actors: [], presets: [] };
let UPLOADS = [];
const pickers = {};
const lists = [];

async function api(method, path, body) {
  const opts = { method, headers: { "X-Dancenow": "1" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new Error("the app is not answering (is `dancenow serve` still running?)");
  }
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
  if (!res.ok) throw new Error((data && data.error) || `the request failed (${res.status})`);
  return data;
}

function say(id, text, isError = false) {
  const el = document.getElementById(id);
  el.textContent = text || "";
  el.classList.toggle("error", !!isError);
}

const mb = (bytes) => `${Math.round(bytes / 1024 / 1024 * 10) / 10} MB`;

function describeUpload(u) {
  const i = u.info || {};
  if (u.kind === "video") return `video, ${i.seconds} s, ${i.width}x${i.height}, ${i.fps} fps`;
  if (u.kind === "image") return `photo, ${i.width}x${i.height}`;
  if (u.kind === "poses") return `poses, ${i.seconds} s`;
  return `motion, ${i.seconds} s`;
}

// ------------------------------------------------------------------ pages

function showPage() {
  const want = (location.hash || "#transfer").slice(1);
  const name = ["transfer", "coach", "choreo"].includes(want) ? want : "transfer";
  for (const s of $$(".page")) s.classList.toggle("active", s.id === "page-" + name);
  for (const a of $$("nav a")) a.classList.toggle("active", a.dataset.page === name);
  if (name !== "choreo") stage.pause();
}

// ------------------------------------------------------------------ pickers: drop, choose or reuse a file

class Picker {
  constructor(el) {
    this.el = el;
    this.kinds = el.dataset.kinds.split(",");
    this.actor = el.dataset.actors || null;
    this.seconds = Number(el.dataset.defaultSeconds || 10);
    const accept = this.kinds.flatMap((k) => ({ video: ["video/*"], image: ["image/*"], poses: [".npz"], motion: [".npz", ".bvh"] }[k]));
    this.input = h("input", { type: "file", id: el.id + "-file", accept: [...new Set(accept)].join(",") });
    this.drop = h("div", { class: "drop" }, h("div", { text: `Drop a ${this.kinds.join(" or ").replace("poses", "pose file")} here, or choose one:` }), this.input);
    this.select = h("select", { id: el.id + "-select" });
    this.preview = h("div", { class: "preview", id: el.id + "-preview" });
    this.message = h("div", { class: "message small", id: el.id + "-message", role: "status" });
    el.append(this.drop, h("div", { class: "choice" }, h("label", {}, "Use: ", this.select)), this.preview, this.message);
    this.input.addEventListener("change", () => { if (this.input.files.length) this.upload(this.input.files[0]); });
    this.drop.addEventListener("dragover", (e) => { e.preventDefault(); this.drop.classList.add("over"); });
    this.drop.addEventListener("dragleave", () => this.drop.classList.remove("over"));
    this.drop.addEventListener("drop", (e) => {
      e.preventDefault();
      this.drop.classList.remove("over");
      if (e.dataTransfer.files.length) this.upload(e.dataTransfer.files[0]);
    });
    this.select.addEventListener("change", () => this.showPreview());
    this.refresh();
  }

  say(text, isError = false) {
    this.message.textContent = text;
    this.message.classList.toggle("error", isError);
  }

  async upload(file) {
    this.input.value = "";
    if (CONFIG.max_upload_bytes && file.size > CONFIG.max_upload_bytes) {
      this.say(`${file.name} is too large (${mb(file.size)}): the limit is ${mb(CONFIG.max_upload_bytes)}`, true);
      return;
    }
    this.say(`uploading ${file.name} (${mb(file.size)})…`);
    let data = null;
    try {
      const res = await fetch("/api/uploads?name=" + encodeURIComponent(file.name), {
        method: "POST", body: file, headers: { "X-Dancenow": "1", "Content-Type": "application/octet-stream" },
      });
      data = await res.json().catch(() => null);
      if (!res.ok) throw new Error((data && data.error) || `the upload failed (${res.status})`);
    } catch (e) {
      this.say(e.message.startsWith("Failed to fetch") ? `${file.name} was refused (too large?)` : e.message, true);
      return;
    }
    await loadUploads();
    if (!this.kinds.includes(data.kind)) {
      this.say(`${data.name} is a ${data.kind}; here it must be a ${this.kinds.join(" or ")}`, true);
      return;
    }
    this.select.value = "upload:" + data.id;
    this.showPreview();
    this.say(`uploaded ${data.name}`);
  }

  refresh() {
    const keep = this.select.value;
    this.select.replaceChildren();
    if (!this.actor) this.select.append(h("option", { value: "", text: "(choose a file)" }));
    if (this.actor) {
      for (const a of CONFIG.actors) {
        this.select.append(h("option", { value: "actor:" + a, text: `demo dancer ${a} (synthetic, ${this.seconds} s)` }));
      }
    }
    for (const u of UPLOADS) {
      if (this.kinds.includes(u.kind)) this.select.append(h("option", { value: "upload:" + u.id, text: `${u.name}: ${describeUpload(u)}` }));
    }
    const values = $$("option", this.select).map((o) => o.value);
    if (values.includes(keep)) this.select.value = keep;
    else if (this.actor && values.includes("actor:" + this.actor)) this.select.value = "actor:" + this.actor;
    this.showPreview();
  }

  showPreview() {
    const v = this.select.value;
    this.preview.replaceChildren();
    if (v.startsWith("upload:")) {
      const u = UPLOADS.find((x) => x.id === v.slice(7));
      if (!u) return;
      if (u.kind === "video" || u.kind === "image") this.preview.append(h("img", { src: `/api/uploads/${u.id}/thumb`, alt: u.name }));
      this.preview.append(h("span", { text: `${u.name}: ${describeUpload(u)}` }));
    } else if (v.startsWith("actor:")) {
      this.preview.append(h("span", { class: "muted", text: "A dancer of the synthetic world, rendered for this job, with exact poses." }));
    }
  }

  value() {
    const v = this.select.value;
    if (!v) return null;
    if (v.startsWith("actor:")) return { actor: v.slice(6), seconds: this.seconds };
    return { upload: v.slice(7) };
  }
}

async function loadUploads() {
  UPLOADS = await api("GET", "/api/uploads");
  for (const p of Object.values(pickers)) p.refresh();
}

// ------------------------------------------------------------------ models

async function loadModels() {
  const fill = (sel, models, empty) => {
    const keep = sel.value;
    sel.replaceChildren();
    if (!models.length) sel.append(h("option", { value: "", text: empty }));
    for (const m of models) sel.append(h("option", { value: m.id, text: m.name }));
    if (models.some((m) => m.id === keep)) sel.value = keep;
  };
  const [synth, choreo] = await Promise.all([api("GET", "/api/models?kind=synth"), api("GET", "/api/models?kind=choreo")]);
  fill($("#transfer-model"), synth, "(no finished model yet)");
  fill($("#choreo-model"), choreo, "(no model yet: train one below)");
}

// ------------------------------------------------------------------ jobs

const when = (t) => (t ? new Date(t * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "");
const fileUrl = (job, key, download) => `/api/jobs/${job.id}/files/${key}${download ? "?download=1" : ""}`;
const fmt = (v, d = 3) => (typeof v === "number" ? (Math.round(v * 10 ** d) / 10 ** d).toString() : v === null || v === undefined ? "–" : String(v));

function video(job, key, cls, caption) {
  const v = h("video", { class: cls, src: fileUrl(job, key), controls: true, muted: true, loop: true, autoplay: true, playsinline: true, preload: "auto" });
  v.muted = true;  // the attribute alone does not mute an element made by script, and autoplay needs it
  return h("figure", {}, v, h("figcaption", {}, caption, " · ", h("a", { href: fileUrl(job, key, true), text: "download" })));
}

function metricsTable(rows) {
  return h("table", { class: "metrics" }, ...rows.filter((r) => r[1] !== undefined).map(([k, v]) => h("tr", {}, h("td", { text: k }), h("td", { text: fmt(v) }))));
}

const RESULTS = {
  transfer(job) {
    const m = job.result.metrics || {};
    const f = job.result.files || {};
    const out = [h("div", { class: "results" },
      video(job, "result", "result", "the target person dancing"),
      video(job, "side_by_side", "side-by-side", "source | pose | result"))];
    out.push(metricsTable([
      ["frames", `${m.frames} (${fmt(m.seconds, 1)} s at ${fmt(m.fps, 1)} fps)`],
      ["held-out SSIM (target's own frames)", m.heldout_ssim], ["held-out PSNR (dB)", m.heldout_psnr],
      ["model", `${m.image_size ? m.image_size.join("x") : ""} px, step ${m.model_step}`],
      ["transfer speed", `${fmt(m.transfer_fps, 1)} frames/s`], ["whole job", `${fmt(job.result.seconds, 0)} s`],
    ]));
    if (f.plot) out.push(h("figure", {}, h("img", { class: "plot", src: fileUrl(job, "plot"), alt: "normalization plot" }),
      h("figcaption", { text: "Normalization: the source's ankle height and body size over time, mapped onto the target's (green)." })));
    out.push(h("div", { class: "links" }, h("a", { href: fileUrl(job, "metrics", true), text: "metrics.json" }),
      h("a", { href: fileUrl(job, "still", true), text: "still frame" })));
    return out;
  },
  coach(job) {
    const m = job.result.metrics || {};
    const timing = m.timing_s === undefined ? "" : ` · timing ${m.timing_s >= 0 ? "+" : ""}${fmt(m.timing_s, 2)} s (+ = late)`;
    return [
      h("div", {}, h("span", { class: "score", text: `${fmt(m.score, 0)}/100` }),
        h("span", { class: "muted", text: `  ${m.summary || ""}${timing}` })),
      h("iframe", { class: "report", src: fileUrl(job, "report"), title: "coach report", sandbox: "" }),
      h("div", { class: "links" }, h("a", { href: fileUrl(job, "report"), target: "_blank", rel: "noopener", text: "open the report in a tab" }),
        h("a", { href: fileUrl(job, "report", true), text: "download report.html" }), h("a", { href: fileUrl(job, "json", true), text: "report.json" })),
    ];
  },
  choreo_train(job) {
    const m = job.result.metrics || {};
    return [
      h("div", { class: "results" }, video(job, "preview", "preview", "an 8 s preview")),
      metricsTable([["styles", (m.styles || []).join(", ")], ["training steps", m.steps], ["generation", `${fmt(m.frames_per_second, 0)} frames/s`]]),
      h("button", { onclick: () => { $("#choreo-model").value = "job:" + job.id; location.hash = "#choreo"; stage.play(); }, text: "Play this model" }),
    ];
  },
  choreo_video(job) {
    return [h("div", { class: "results" }, video(job, "video", "dance", "the saved dance"))];
  },
};

class JobCard {
  constructor(job) {
    this.id = job.id;
    this.badge = h("span", { class: "badge" });
    this.cancel = h("button", { text: "Cancel", onclick: () => this.act("cancel") });
    this.retry = h("button", { text: "Retry", onclick: () => this.act("retry") });
    this.remove = h("button", { text: "Delete", onclick: () => this.act("delete") });
    this.bar = h("div");
    this.stage = h("div", { class: "stage" });
    this.error = h("div", { class: "error-text" });
    this.live = h("div", { class: "live" });
    this.results = h("div");
    this.log = h("pre");
    this.logBox = h("details", {}, h("summary", { class: "small muted", text: "log" }), this.log);
    this.el = h("div", { class: "job", "data-id": job.id },
      h("div", { class: "job-head" }, h("span", { class: "job-title", text: job.title }), this.badge,
        h("span", { class: "muted small", text: when(job.created) }), h("span", { class: "spacer" }), this.cancel, this.retry, this.remove),
      h("div", { class: "bar" }, this.bar), this.stage, this.error, this.live, this.results, this.logBox);
    this.logBox.addEventListener("toggle", () => this.loadLog());
    // the log shows while the job works, and folds away when it is done (unless opened by hand)
    this.autoLog = job.state === "queued" || job.state === "running";
    this.logBox.open = this.autoLog;
    this.built = null;
  }

  async act(what) {
    if (what === "delete" && !window.confirm("Delete this job and its files (a trained model too)?")) return;
    try {
      if (what === "delete") await api("DELETE", `/api/jobs/${this.id}`);
      else await api("POST", `/api/jobs/${this.id}/${what}`);
      poll();
    } catch (e) {
      this.error.textContent = e.message;
    }
  }

  async loadLog() {
    if (!this.logBox.open) return;
    try {
      const res = await fetch(`/api/jobs/${this.id}/log`);
      this.log.textContent = await res.text();
      this.log.scrollTop = this.log.scrollHeight;
    } catch (e) { /* next poll */ }
  }

  update(job) {
    this.el.dataset.state = job.state;
    this.badge.className = "badge " + job.state;
    this.badge.textContent = job.state;
    const active = job.state === "queued" || job.state === "running";
    this.cancel.hidden = !active;
    this.retry.hidden = !(job.state === "failed" || job.state === "cancelled");
    this.remove.hidden = active;
    this.bar.style.width = `${Math.round((job.state === "done" ? 1 : job.progress) * 100)}%`;
    this.stage.textContent = job.state === "queued" ? "waiting for its turn" : job.state === "running" ? job.stage : "";
    this.error.textContent = job.state === "failed" ? job.error : "";
    this.updateLive(job);
    if (job.state === "done" && this.built !== job.finished) {
      this.built = job.finished;
      if (this.autoLog) this.logBox.open = this.autoLog = false;
      this.results.replaceChildren(...RESULTS[job.kind](job));
      this.live.replaceChildren();
    } else if (job.state !== "done" && this.built) {
      this.built = null;
      this.results.replaceChildren();
    }
    if (active || job.state === "failed") this.loadLog();
  }

  updateLive(job) {
    const L = job.live || {};
    if (job.state !== "running" || L.step === undefined) {
      if (job.state !== "done" && job.state !== "running") this.live.replaceChildren();
      return;
    }
    const text = [`step ${L.step} of ${L.total}`];
    if (L.ssim !== undefined) text.push(`held-out SSIM ${fmt(L.ssim)} · PSNR ${fmt(L.psnr, 2)} dB (at step ${L.eval_step})`);
    if (!this.liveText) {
      this.liveText = h("div");
      this.sample = h("img", { alt: "latest training sample: pose | generated | real" });
      this.live.replaceChildren(this.liveText, h("figure", {}, this.sample, h("figcaption", { class: "small muted", text: "latest sample: pose | generated | real (held-out frames)" })));
    }
    this.liveText.replaceChildren(...text.map((t) => h("div", { text: t })));
    if (L.sample && L.sample !== this.sampleKey) {
      this.sampleKey = L.sample;
      this.sample.src = `/api/jobs/${job.id}/sample?v=${encodeURIComponent(L.sample)}`;
    }
    this.sample.parentElement.hidden = !L.sample;
  }
}

class JobList {
  constructor(el) {
    this.el = el;
    this.kinds = el.dataset.kind.split(",");
    this.cards = new Map();
    this.empty = $(".empty", el);
  }

  update(jobs) {
    const mine = jobs.filter((j) => this.kinds.includes(j.kind));
    this.empty.hidden = mine.length > 0;
    const seen = new Set();
    let prev = this.empty;
    for (const job of mine) {
      let card = this.cards.get(job.id);
      if (!card) {
        card = new JobCard(job);
        this.cards.set(job.id, card);
      }
      card.update(job);
      if (prev.nextSibling !== card.el) prev.after(card.el);
      prev = card.el;
      seen.add(job.id);
    }
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.el.remove();
        this.cards.delete(id);
      }
    }
  }
}

let pollTimer = null;
let doneCount = -1;

async function poll() {
  clearTimeout(pollTimer);
  let active = false;
  try {
    const jobs = await api("GET", "/api/jobs");
    for (const l of lists) l.update(jobs);
    active = jobs.some((j) => j.state === "queued" || j.state === "running");
    const running = jobs.filter((j) => j.state === "running").length;
    $("#status").textContent = running ? `${running} job${running > 1 ? "s" : ""} running` : "";
    const done = jobs.filter((j) => j.state === "done").length;
    if (done !== doneCount) {
      doneCount = done;
      loadModels().catch(() => {});
    }
  } catch (e) {
    $("#status").textContent = e.message;
  }
  pollTimer = setTimeout(poll, active ? 1000 : 4000);
}

async function startJob(kind, params, messageId) {
  try {
    const job = await api("POST", "/api/jobs", { kind, params });
    say(messageId, `Started: ${job.title}`);
    poll();
    return job;
  } catch (e) {
    say(messageId, e.message, true);
    return null;
  }
}

// ------------------------------------------------------------------ Transfer and Coach forms

function transferForm() {
  const budget = $("#transfer-budget");
  const showBudget = () => $$(".budget").forEach((el) => el.classList.toggle("shown", el.dataset.budget === budget.value));
  budget.addEventListener("change", showBudget);
  showBudget();
  $("#transfer-start").addEventListener("click", () => {
    const mode = $("input[name=transfer-mode]:checked").value;
    const params = { source: pickers.transferSource.value() };
    if (!params.source) return say("transfer-message", "Choose the source dance first (or a demo dancer).", true);
    if (mode === "reuse") {
      params.model = $("#transfer-model").value;
      if (!params.model) return say("transfer-message", "There is no finished model to reuse yet: train one first.", true);
    } else {
      params.target = pickers.transferTarget.value();
      if (!params.target) return say("transfer-message", "Choose the target person first (or a demo dancer).", true);
      params.preset = $("#transfer-preset").value;
      if (budget.value === "steps") params.steps = Number($("#transfer-steps").value);
      if (budget.value === "minutes") params.minutes = Number($("#transfer-minutes").value);
    }
    startJob("transfer", params, "transfer-message");
  });
}

function coachForm() {
  const select = $("#coach-exercise");
  for (const name of CONFIG.exercises || []) select.append(h("option", { value: name, text: `a ${name}` }));
  $("#coach-start").addEventListener("click", () => {
    const mode = $("input[name=coach-mode]:checked").value;
    const ref = pickers.coachReference.value();
    const att = pickers.coachAttempt.value();
    const exercise = mode === "exercise" ? select.value : null;
    if (!att) return say("coach-message", "Choose your attempt first.", true);
    if (!ref && !exercise) return say("coach-message", "Choose the reference too.", true);
    startJob("coach", { mode, attempt: att.upload, reference: ref ? ref.upload : null, exercise, mirror: $("#coach-mirror").checked },
      "coach-message");
  });
}

// ------------------------------------------------------------------ the choreography stage

const stage = {
  canvas: null, ctx: null, session: null, model: null, fps: 30, limbs: [], styles: [],
  frames: [], first: 0, clock: 0, playing: false, pending: false, last: 0, camX: null, ground: null,

  init() {
    this.canvas = $("#choreo-canvas");
    this.ctx = this.canvas.getContext("2d");
    this.blank("Choose or train a model, then press Play.");
    $("#choreo-play").addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    $("#choreo-save").addEventListener("click", () => this.save());
    const t = $("#choreo-liveliness");
    t.addEventListener("input", () => { $("#choreo-liveliness-value").textContent = t.value; });
  },

  blank(text) {
    const { ctx, canvas } = this;
    ctx.fillStyle = "#18181c";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#9a9aa6";
    ctx.font = "16px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(text, canvas.width / 2, canvas.height / 2);
    ctx.textAlign = "left";
  },

  styleMix() {
    const mix = {};
    for (const el of $$("#choreo-styles input")) if (Number(el.value) > 0) mix[el.dataset.style] = Number(el.value);
    return mix;
  },

  buildStyles(styles) {
    const box = $("#choreo-styles");
    box.classList.remove("muted");
    box.replaceChildren(h("div", { class: "small muted", text: "Style mix (all at 0: any style)" }));
    styles.forEach((s, i) => {
      const val = h("span", { text: i === 0 ? "1" : "0" });
      const input = h("input", { type: "range", min: "0", max: "1", step: "0.05", value: i === 0 ? "1" : "0", "data-style": s, id: "choreo-style-" + s });
      input.addEventListener("input", () => { val.textContent = input.value; });
      box.append(h("label", {}, `${s} `, val, h("br"), input));
    });
  },

  async play() {
    const model = $("#choreo-model").value;
    if (!model) return say("choreo-message", "Train or choose a model first.", true);
    if (!this.session || this.model !== model) {
      say("choreo-message", "loading the model…");
      try {
        const s = await api("POST", "/api/choreo/sessions", { model });
        Object.assign(this, { session: s.session, model, fps: s.fps, limbs: s.limbs, styles: s.styles, frames: [], first: 0, clock: 0, camX: null, ground: null });
        this.buildStyles(s.styles);
      } catch (e) {
        return say("choreo-message", e.message, true);
      }
    }
    say("choreo-message", "");
    this.playing = true;
    this.last = performance.now();
    $("#choreo-play").textContent = "Pause";
    requestAnimationFrame((t) => this.loop(t));
  },

  pause() {
    this.playing = false;
    const b = $("#choreo-play");
    if (b) b.textContent = "Play";
  },

  loop(now) {
    if (!this.playing) return;
    const dt = Math.min((now - this.last) / 1000, 0.25);
    this.last = now;
    const end = this.first + this.frames.length - 1;  // the newest frame we have
    this.clock = Math.min(this.clock + dt * this.fps, Math.max(end, 0));
    const idx = Math.floor(this.clock);
    if (end >= 0 && idx >= this.first) this.draw(this.frames[idx - this.first], idx);
    const behind = idx - this.first - 2 * this.fps;  // keep two seconds for drawing, drop the rest
    if (behind > 0) {
      this.frames.splice(0, behind);
      this.first += behind;
    }
    if (end - idx < this.fps * 0.8 && !this.pending) this.fetchMore();
    requestAnimationFrame((t) => this.loop(t));
  },

  async fetchMore() {
    this.pending = true;
    const session = this.session;
    try {
      const r = await api("POST", `/api/choreo/sessions/${session}/frames`, {
        n: Math.round(this.fps / 2), liveliness: Number($("#choreo-liveliness").value), style: this.styleMix(),
      });
      if (session === this.session && r.first === this.first + this.frames.length) this.frames.push(...r.frames);
    } catch (e) {
      say("choreo-message", e.message, true);
      this.session = null;
      this.pause();
    } finally {
      this.pending = false;
    }
  },

  draw(kp, idx) {
    const { ctx, canvas } = this;
    const W = canvas.width, H = canvas.height;
    const ok = (p) => p && p[0] !== null && p[1] !== null;
    const hip = ok(kp[8]) ? kp[8] : [0, 0];
    this.camX = this.camX === null ? hip[0] : this.camX + (hip[0] - this.camX) * 0.04;  // a camera that follows gently
    const feet = [11, 14, 19, 22].filter((j) => ok(kp[j])).map((j) => kp[j][1]);
    const low = feet.length ? Math.max(...feet) : hip[1] + 0.5;
    this.ground = this.ground === null ? low : this.ground + (low - this.ground) * 0.03;
    const s = H * 0.62, floor = H * 0.88;
    const X = (x) => W / 2 + (x - this.camX) * s;
    const Y = (y) => floor + (y - this.ground) * s;
    ctx.fillStyle = "#18181c";
    ctx.fillRect(0, 0, W, H);
    ctx.strokeStyle = "#34343c";
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(0, floor + 4); ctx.lineTo(W, floor + 4); ctx.stroke();
    ctx.lineCap = "round";
    ctx.lineWidth = 7;
    for (const [a, b, r, g, bl] of this.limbs) {
      if (!ok(kp[a]) || !ok(kp[b])) continue;
      ctx.strokeStyle = `rgb(${r},${g},${bl})`;
      ctx.beginPath(); ctx.moveTo(X(kp[a][0]), Y(kp[a][1])); ctx.lineTo(X(kp[b][0]), Y(kp[b][1])); ctx.stroke();
    }
    if (ok(kp[0])) {
      ctx.fillStyle = "#e8e8ee";
      ctx.beginPath(); ctx.arc(X(kp[0][0]), Y(kp[0][1]), 0.05 * s, 0, 2 * Math.PI); ctx.fill();
    }
    const mix = Object.entries(this.styleMix()).map(([k, v]) => `${k} ${v}`).join(", ") || "any style";
    ctx.fillStyle = "#9a9aa6";
    ctx.font = "13px system-ui, sans-serif";
    ctx.fillText(`${(idx / this.fps).toFixed(1)} s · liveliness x${$("#choreo-liveliness").value} · ${mix}`, 12, 22);
  },

  async save() {
    if (!this.session) return say("choreo-message", "Play a dance first.", true);
    try {
      const job = await api("POST", `/api/choreo/sessions/${this.session}/save`, {
        upto: Math.floor(this.clock), seconds: 30, style: this.styleMix(), liveliness: Number($("#choreo-liveliness").value),
      });
      say("choreo-message", `Saving: ${job.title}. It appears in the jobs below.`);
      poll();
    } catch (e) {
      say("choreo-message", e.message, true);
    }
  },
};

function choreoForm() {
  const motions = [];
  const list = $("#choreo-motion-list");
  const render = () => list.replaceChildren(...motions.map((m, i) => h("li", {}, `${m.name} as "${m.style}" `,
    h("button", { text: "remove", onclick: () => { motions.splice(i, 1); render(); } }))));
  $("#choreo-add-motion").addEventListener("click", () => {
    const v = pickers.choreoMotion.value();
    const style = $("#choreo-style-name").value.trim().toLowerCase();
    if (!v) return say("choreo-message", "Choose a motion file first.", true);
    if (!/^[a-z][a-z0-9_-]{0,23}$/.test(style)) return say("choreo-message", "Name its style: letters, digits, - or _, starting with a letter.", true);
    const u = UPLOADS.find((x) => x.id === v.upload);
    motions.push({ upload: v.upload, style, name: u ? u.name : v.upload });
    render();
    say("choreo-message", "");
  });
  const steps = () => Number($("#choreo-steps").value);
  $("#choreo-train-world").addEventListener("click", () => startJob("choreo_train", { source: "world", steps: steps() }, "choreo-message"));
  $("#choreo-train-uploads").addEventListener("click", () => {
    if (!motions.length) return say("choreo-message", "Add at least one motion file with its style first.", true);
    startJob("choreo_train", { source: "uploads", steps: steps(), uploads: motions.map(({ upload, style }) => ({ upload, style })) }, "choreo-message");
  });
  $("#choreo-model").addEventListener("change", () => { if (stage.playing) stage.play(); });
}

// ------------------------------------------------------------------ start

async function main() {
  try {
    CONFIG = await api("GET", "/api/config");
  } catch (e) {
    $("#status").textContent = e.message;
  }
  pickers.transferTarget = new Picker($("#transfer-target"));
  pickers.transferSource = new Picker($("#transfer-source"));
  pickers.coachReference = new Picker($("#coach-reference"));
  pickers.coachAttempt = new Picker($("#coach-attempt"));
  pickers.choreoMotion = new Picker($("#choreo-motion"));
  for (const el of $$(".jobs")) lists.push(new JobList(el));
  stage.init();
  transferForm();
  coachForm();
  choreoForm();
  window.addEventListener("hashchange", showPage);
  showPage();
  await loadUploads().catch((e) => { $("#status").textContent = e.message; });
  await loadModels().catch(() => {});
  poll();
}

main();
