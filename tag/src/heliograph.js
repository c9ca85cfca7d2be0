/*
 * Heliograph browser tag: page views, clicks and scroll depth, batched to POST /collect.
 *
 * Embedded as <script src="https://HOST/t/heliograph.js" data-site="SITE_KEY" async></script>.
 * Optional attributes: data-consent="required" (collect only after heliograph.consent(true)),
 * data-cookieless (store nothing on the device). Never reads text, input values or any
 * attribute other than id and class. Size budget: 2,048 bytes gzip after minification.
 */
(() => {
  const w = window;
  const d = document;
  const n = navigator;
  const h = history;
  const root = d.documentElement;
  const tag = d.currentScript;
  const site = tag && tag.getAttribute('data-site');
  const VISITOR = 'hg_v';
  const SESSION = 'hg_s';
  const ID = /^[\w-]{1,64}$/;
  const MAX_URL = 2048;
  const MAX_SEL = 512;
  const MAX_PX = 1e6; // the collector rejects coordinates and sizes beyond a million pixels
  const IDLE_MS = 18e5; // a session ends after 30 minutes without an event
  const BATCH = 10;
  const FLUSH_MS = 5e3;
  const esc = w.CSS && CSS.escape;
  // Generated names change between builds, page loads or clicks, so a selector built from them
  // would not be stable: counters, hashes mixing case and digits, CSS-module suffixes,
  // CSS-in-JS and framework prefixes, React's useId ids, and state classes. A name with an "@"
  // is left out too: pages that name elements after a user put e-mail addresses there, and
  // those must not leave the page (names with four digits in a row, phone numbers among them,
  // were already left out).
  const UNSTABLE =
    /\d{4}|@|[A-Z][^-]*\d|\d[^-]*[A-Z]|__[^_]*[A-Z\d]|^(css|sc|jsx|svelte|astro|ng)-|:[rR]\w*:|\u00ab|^(is|has)-|^(active|current|focus|hover|open|selected)$/;

  let on = 0;
  let wired = 0;
  // The batch being gathered, in the collector's "runs" format: session and visitor once, then
  // runs of events on one page view, URL, viewport and document size ({pid, url, vw, vh, dw,
  // dh, ...}) with the events as columns: type and ts for every event, then each field of an
  // event in the column of that name (ref of page views, sel, x and y of clicks, depth).
  let queue = 0;
  let queued = 0;
  let timer = 0;
  let throttle = 0;
  let store = 0; // localStorage, or 0 when cookieless / unavailable
  let memory = ''; // the session record when nothing may be stored
  let vid = '';
  let pid;
  let pageUrl;
  let depth;
  let sentDepth;

  const forget = () => {
    try {
      const storage = w.localStorage;
      storage.removeItem(VISITOR);
      storage.removeItem(SESSION);
    } catch (e) {}
  };

  const api = { consent: (yes) => yes || forget() };
  w.heliograph = api;

  if (!site) return;
  // Do Not Track and Global Privacy Control win over everything, consent included; identifiers
  // stored on an earlier visit are removed.
  if (n.doNotTrack == '1' || w.doNotTrack == '1' || n.globalPrivacyControl === true) {
    forget();
    return;
  }

  const endpoint = new URL('/collect', tag.src).href;
  const cookieless = tag.hasAttribute('data-cookieless');

  const rid = () =>
    btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))))
      .slice(0, 22)
      .replace(/\+/g, '-')
      .replace(/\//g, '_');

  const px = (v) => Math.max(-MAX_PX, Math.min(MAX_PX, Math.round(v) || 0));

  const session = (now) => {
    let [id, last] = ((store ? store.getItem(SESSION) : memory) || '').split('.');
    if (!ID.test(id) || !(now - last <= IDLE_MS)) id = rid();
    memory = id + '.' + now;
    if (store) store.setItem(SESSION, memory);
    return id;
  };

  const send = (body) => {
    try {
      if (n.sendBeacon(endpoint, body)) return;
    } catch (e) {}
    try {
      fetch(endpoint, {
        method: 'POST',
        body,
        keepalive: true,
        credentials: 'omit',
        headers: { 'Content-Type': 'text/plain' },
      }).catch(() => {});
    } catch (e) {}
  };

  const flush = () => {
    clearTimeout(timer);
    timer = queued = 0;
    if (queue) send(JSON.stringify(queue));
    queue = 0;
  };

  const emit = (type, event, url) => {
    const now = Date.now();
    let sid;
    try {
      sid = session(now);
    } catch (e) {
      store = 0; // storage failed mid-page: carry on as cookieless
      vid = '';
      sid = session(now);
    }
    url = (url || location.href).slice(0, MAX_URL);
    if (queue && (queue.sid != sid || queue.vid != vid)) flush();
    queue = queue || { site, sid, vid, runs: [] };
    const runs = queue.runs;
    const vw = px(w.innerWidth);
    const vh = px(w.innerHeight);
    const dw = px(root.scrollWidth);
    const dh = px(root.scrollHeight);
    let run = runs[runs.length - 1];
    if (!run || run.pid != pid || run.url != url || run.vw != vw || run.vh != vh || run.dw != dw || run.dh != dh)
      runs.push((run = { pid, url, vw, vh, dw, dh, type: [], ts: [] }));
    run.type.push(type);
    run.ts.push(now);
    // Own keys only: a page may have added enumerable properties to Object.prototype.
    for (const key of Object.keys(event)) (run[key] = run[key] || []).push(event[key]);
    if (++queued >= BATCH) flush();
    else timer = timer || setTimeout(flush, FLUSH_MS);
  };

  const measure = () => {
    const ratio = (w.scrollY + w.innerHeight) / root.scrollHeight;
    depth = Math.max(depth, Math.min(100, Math.round(ratio * 100) || 0));
  };

  const emitDepth = () => {
    measure();
    if (depth != sentDepth) emit('scroll', { depth: (sentDepth = depth) }, pageUrl);
  };

  const pageview = (ref) => {
    pid = rid();
    depth = 0;
    sentDepth = -1;
    pageUrl = location.href;
    emit('pageview', { ref: ref.slice(0, MAX_URL) });
  };

  const path = (url) => url.split('#')[0];

  const route = () => {
    const previous = pageUrl;
    if (on && path(location.href) != path(previous)) {
      emitDepth();
      pageview(previous);
    }
  };

  const ok = (name) => name.length <= 40 && !UNSTABLE.test(name) && (esc || /^-?[a-z_][\w-]*$/i.test(name));
  const css = (name) => (esc ? esc(name) : name);

  // The element's place in the document, from tag, id, class and position only.
  const selector = (el) => {
    const parts = [];
    for (let level = 0; el && level < 5; level++, el = el.parentElement) {
      if (el.id && ok(el.id)) {
        parts.unshift('#' + css(el.id));
        break;
      }
      let part = el.localName;
      let classes = 0;
      for (const name of el.classList) {
        if (classes < 2 && ok(name)) {
          part += '.' + css(name);
          classes++;
        }
      }
      const parent = el.parentElement;
      if (parent) {
        let count = 0;
        let index = 0;
        for (const sibling of parent.children) {
          if (sibling.localName == el.localName) count++;
          if (sibling == el) index = count;
        }
        if (count > 1) part += ':nth-of-type(' + index + ')';
      }
      parts.unshift(part);
    }
    let joined;
    while ((joined = parts.join(' > ')).length > MAX_SEL) parts.shift();
    return joined;
  };

  const click = (e) => {
    let target = e.target;
    if (!on || !target) return;
    if (target.nodeType != 1) target = target.parentElement;
    emit('click', { sel: selector(target), x: px(e.pageX), y: px(e.pageY) });
  };

  const leave = () => {
    if (on) {
      emitDepth();
      flush();
    }
  };

  const wire = () => {
    wired = 1;
    d.addEventListener('click', click, true);
    w.addEventListener(
      'scroll',
      () => {
        throttle =
          throttle ||
          setTimeout(() => {
            throttle = 0;
            measure();
          }, 250);
      },
      { passive: true },
    );
    // A document still loading is shorter than it will be: measure once it is complete.
    w.addEventListener('load', measure);
    d.addEventListener('visibilitychange', () => d.visibilityState == 'hidden' && leave());
    w.addEventListener('pagehide', leave);
    w.addEventListener('popstate', route);
    for (const method of ['pushState', 'replaceState']) {
      const original = h[method];
      h[method] = function () {
        const result = original.apply(this, arguments);
        try {
          route();
        } catch (e) {}
        return result;
      };
    }
  };

  const start = () => {
    if (on) return;
    on = 1;
    store = 0;
    vid = '';
    if (!cookieless) {
      try {
        store = w.localStorage;
        vid = store.getItem(VISITOR) || '';
        if (!ID.test(vid)) store.setItem(VISITOR, (vid = rid()));
      } catch (e) {
        store = 0;
        vid = '';
      }
    }
    if (!wired) wire();
    pageview(d.referrer);
    if (d.readyState == 'complete') measure();
  };

  api.consent = (yes) => {
    if (yes) return start();
    on = 0;
    clearTimeout(timer);
    timer = queue = queued = 0;
    memory = '';
    forget();
  };

  if (tag.getAttribute('data-consent') != 'required') start();
})();
