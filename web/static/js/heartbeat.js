/* Clinicast attendance: the player's heartbeats and the head count (issue 9).
 *
 * A heartbeat tells POST /api/v1/attendance/heartbeats which interval of the lecture's timeline
 * was played since the previous one, whether the player is playing, its rendition, the stalls
 * since the previous one and how many people watch in front of this screen. One is made every
 * `heartbeatSeconds` (15) of playback and on pause, seek, end, rendition change and page hide.
 * Played time is built only from small forward steps of currentTime while playing, so a seek,
 * a rewind or a rebuilt source never counts as watched.
 *
 * Offline-proof: every heartbeat is written to localStorage before anything is sent, under a
 * key of its own (two tabs never overwrite each other: there is no read-modify-write of a shared
 * list), and removed only when the server has answered for it (accepted, duplicate or rejected
 * with a per-item error). A failed send (offline, 5xx, timeout, signed out) stays and is resent,
 * batched, with back-off, at once on the 'online' event, and on the next page load: heartbeats of
 * earlier sessions keep their own session ids. Web Locks let one tab send at a time; where they
 * are missing two tabs may send a heartbeat twice, which the server counts once.
 *
 * On page hide the queue goes out with fetch(..., {keepalive: true}), not sendBeacon: a beacon
 * cannot carry the x-csrftoken header the API requires. A keepalive request that is lost with
 * the page costs nothing: its heartbeats are still in storage and go with the next load.
 *
 * Settings: the page's data attributes; `window.clinicastSettings.heartbeatSeconds`, when set
 * before this script runs, overrides the cadence (a deployment's choice, or a test's 2 s). */
(function () {
  "use strict";

  var MAX_BATCH = 500; // the API's limit per request
  var MAX_BATCH_BYTES = 48000; // keepalive requests may carry at most 64 KiB in flight
  var MAX_QUEUED = 3000; // ~12 hours of playback at one heartbeat per 15 s; oldest dropped
  var RETRY_MIN_MS = 2000;
  var RETRY_MAX_MS = 60000;
  var REQUEST_TIMEOUT_MS = 15000;

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function newSessionId() {
    var cryptography = window.crypto;
    if (cryptography && cryptography.randomUUID) return cryptography.randomUUID();
    var bytes = new Uint8Array(16); // randomUUID needs a secure context; this does not
    if (cryptography && cryptography.getRandomValues) cryptography.getRandomValues(bytes);
    else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function localStore() {
    try {
      window.localStorage.setItem("clinicast.probe", "1");
      window.localStorage.removeItem("clinicast.probe");
      return window.localStorage;
    } catch (error) {
      return null; // storage disabled: the queue lives in memory only
    }
  }

  /* --- the queue ----------------------------------------------------------------------- */

  function openQueue(endpoint, owner) {
    var storage = localStore();
    var memory = {};
    var prefix = "clinicast.heartbeat." + owner + ".";
    var retryTimer = null, failures = 0, sending = false, again = false, batchLimit = MAX_BATCH;

    function keys() {
      var found = Object.keys(memory);
      if (!storage) return found;
      for (var i = 0; i < storage.length; i++) {
        var key = storage.key(i);
        if (key && key.indexOf(prefix) === 0) found.push(key);
      }
      return found;
    }

    function read(key) {
      var text = key in memory ? memory[key] : storage && storage.getItem(key);
      try { return text ? JSON.parse(text) : null; } catch (error) { remove([key]); return null; }
    }

    function remove(list) {
      list.forEach(function (key) { delete memory[key]; if (storage) storage.removeItem(key); });
    }

    /* The queued heartbeats, oldest first. */
    function items() {
      return keys().map(function (key) { return { key: key, heartbeat: read(key) }; })
        .filter(function (item) { return item.heartbeat; })
        .sort(function (a, b) {
          var x = a.heartbeat, y = b.heartbeat;
          return x.sent_at < y.sent_at ? -1 : x.sent_at > y.sent_at ? 1 : x.seq - y.seq;
        });
    }

    function trim(limit) {
      var all = items();
      if (all.length > limit) remove(all.slice(0, all.length - limit).map(function (i) { return i.key; }));
    }

    function add(heartbeat) {
      var key = prefix + heartbeat.session_id + "." + heartbeat.seq;
      var text = JSON.stringify(heartbeat);
      if (!storage) memory[key] = text;
      else {
        try { storage.setItem(key, text); } catch (full) { // make room once, else keep it in memory
          trim(Math.floor(MAX_QUEUED * 0.9));
          try { storage.setItem(key, text); } catch (stillFull) { memory[key] = text; }
        }
      }
      if (keys().length > MAX_QUEUED) trim(MAX_QUEUED);
    }

    function batch(limit, maxBytes) {
      var chosen = [], bytes = 20;
      var all = items();
      for (var i = 0; i < all.length && chosen.length < limit; i++) {
        bytes += JSON.stringify(all[i].heartbeat).length + 1;
        if (chosen.length && bytes > maxBytes) break;
        chosen.push(all[i]);
      }
      return chosen;
    }

    /* Send one batch: "sent" (answered for, removed), "split" (refused whole: send it in
     * smaller batches; a single refused heartbeat is dropped) or "retry" (kept). */
    function post(chosen, keepalive) {
      var controller = !keepalive && window.AbortController ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
      var sentKeys = chosen.map(function (item) { return item.key; });
      return fetch(endpoint, {
        method: "POST",
        credentials: "same-origin",
        keepalive: !!keepalive,
        signal: controller ? controller.signal : undefined,
        headers: { "Content-Type": "application/json", Accept: "application/json", "x-csrftoken": csrfToken() },
        body: JSON.stringify({ heartbeats: chosen.map(function (item) { return item.heartbeat; }) }),
      }).then(function (response) {
        if (response.ok) {
          return response.json().catch(function () { return {}; }).then(function (answer) {
            (answer.rejected || []).forEach(function (r) {
              if (window.console) console.warn("heartbeat rejected:", r.code, r.message, chosen[r.index] && chosen[r.index].heartbeat);
            });
            remove(sentKeys);
            return "sent";
          });
        }
        if (response.status === 400 || response.status === 413 || response.status === 422) {
          if (chosen.length > 1) return "split";
          remove(sentKeys);
          return "sent";
        }
        return "retry"; // 5xx, 408, 429; 401/403 until the user signs in again
      }, function () { return "retry"; }).then(function (outcome) {
        if (timer) clearTimeout(timer);
        return outcome;
      });
    }

    function scheduleRetry(delay) {
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = setTimeout(function () { retryTimer = null; flush(); }, delay);
    }

    function drain() {
      var chosen = batch(batchLimit, Infinity);
      if (!chosen.length) {
        failures = 0;
        batchLimit = MAX_BATCH;
        if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
        return Promise.resolve();
      }
      return post(chosen, false).then(function (outcome) {
        if (outcome === "split") batchLimit = Math.max(1, Math.floor(chosen.length / 2));
        if (outcome !== "retry") { failures = 0; return drain(); }
        failures += 1;
        var backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * Math.pow(2, failures - 1));
        scheduleRetry(backoff * (0.75 + Math.random() * 0.5));
      });
    }

    function locked(work) {
      if (!navigator.locks) return work();
      return navigator.locks.request("clinicast-heartbeats-" + owner, { ifAvailable: true }, function (lock) {
        if (!lock) scheduleRetry(RETRY_MIN_MS); // another tab is sending: it sends ours too
        else return work();
      });
    }

    /* Send what is queued; with `keepalive` (page hide) one request that may outlive the page. */
    function flush(keepalive) {
      if (keepalive) {
        var chosen = batch(MAX_BATCH, MAX_BATCH_BYTES);
        if (chosen.length) post(chosen, true);
        return;
      }
      if (sending) { again = true; return; }
      if (navigator.onLine === false) return; // the 'online' event flushes
      sending = true;
      Promise.resolve(locked(drain)).catch(function () {}).then(function () {
        sending = false;
        if (again) { again = false; flush(); }
      });
    }

    window.addEventListener("online", function () { failures = 0; flush(); });
    return { add: add, flush: flush, size: function () { return keys().length; },
             backingOff: function () { return retryTimer !== null; } };
  }

  /* --- the tracker --------------------------------------------------------------------- */

  function startTracker(options) {
    var video = options.video, queue = options.queue;
    var sessionId = newSessionId(), seq = 0;
    var open = null; // the interval being played: {start, end, at (performance.now() of end)}
    var stalls = 0, stalledMs = 0, stallSince = null, started = false;
    var rendition = options.rendition(), lastPlaying = false, tickTimer = null;
    var intervalMs = Math.max(1, options.heartbeatSeconds) * 1000;

    function playing() { return !video.paused && !video.ended; }
    function position() {
      var t = options.timeline ? options.timeline() : video.currentTime;
      return isFinite(t) && t > 0 ? t : 0;
    }
    function round(value, places) { var f = Math.pow(10, places); return Math.round(value * f) / f; }

    function startStall() {
      if (started && stallSince === null && playing() && !video.seeking) {
        stallSince = performance.now();
        stalls += 1;
      }
    }
    function endStall() {
      if (stallSince === null) return;
      stalledMs += performance.now() - stallSince;
      stallSince = null;
    }

    /* Follow currentTime: a forward step no larger than the wall time allows is played time;
     * anything else is a jump we were not told about, which closes the interval. */
    function extend() {
      if (video.seeking) return;
      var t = position(), now = performance.now();
      if (!open) { if (playing()) open = { start: t, end: t, at: now }; return; }
      var step = t - open.end;
      var allowed = ((now - open.at) / 1000) * Math.max(video.playbackRate || 1, 0.25) * 1.5 + 1;
      if (step >= 0 && step <= allowed) {
        if (step > 0) endStall();
        open.end = t;
        open.at = now;
        return;
      }
      beat("seek");
      if (playing()) open = { start: t, end: t, at: now };
    }

    function somethingToSay() {
      return (open && open.end > open.start) || stalls > 0 || stallSince !== null || lastPlaying !== playing();
    }

    function beat(reason) {
      var now = performance.now();
      if (stallSince !== null) { stalledMs += now - stallSince; stallSince = now; }
      var start = open ? open.start : position();
      var end = open ? open.end : start;
      var heartbeat = {
        session_id: sessionId, seq: seq++, lecture_id: options.lectureId, mode: options.mode,
        start: round(start, 3), end: round(end, 3), playing: playing(), rendition: rendition,
        stalls: stalls, stalled: round(stalledMs / 1000, 2), head_count: options.headCount(),
        sent_at: new Date().toISOString(),
      };
      stalls = 0;
      stalledMs = 0;
      lastPlaying = heartbeat.playing;
      var continues = open && heartbeat.playing && reason !== "seek" && reason !== "source";
      open = continues ? { start: end, end: end, at: open.at } : null;
      queue.add(heartbeat);
      if (reason === "hide") queue.flush(true);
      else if (!queue.backingOff()) queue.flush();
      schedule();
    }

    function beatIfNeeded(reason) { if (somethingToSay()) beat(reason); }

    function schedule() {
      if (tickTimer) clearTimeout(tickTimer);
      tickTimer = setTimeout(function () {
        tickTimer = null;
        if (playing()) { extend(); beat("interval"); } else schedule();
      }, intervalMs);
    }

    video.addEventListener("play", function () { if (options.onPlay) options.onPlay(); });
    video.addEventListener("playing", function () { started = true; endStall(); extend(); });
    video.addEventListener("timeupdate", extend);
    video.addEventListener("waiting", startStall);
    video.addEventListener("pause", function () { endStall(); extend(); beat("pause"); });
    video.addEventListener("ended", function () { endStall(); extend(); beat("end"); });
    video.addEventListener("seeking", function () { endStall(); beatIfNeeded("seek"); open = null; });
    video.addEventListener("emptied", function () { // a source rebuilt: its start-up is no stall
      endStall();
      beatIfNeeded("source");
      open = null;
      started = false;
    });
    video.addEventListener("resize", renditionChanged); // native HLS: a new rung's picture size
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState !== "hidden") return;
      extend();
      if (somethingToSay()) beat("hide"); else queue.flush(true);
    });
    window.addEventListener("pagehide", function () { extend(); if (somethingToSay()) beat("hide"); });

    /* The player chose or switched a rung (hls.js LEVEL_SWITCHED, "Audio only"): what was played
     * so far is reported under the rung it was played in. */
    function renditionChanged() {
      var now = options.rendition();
      if (now === rendition) return;
      if (rendition) beatIfNeeded("rendition");
      rendition = now;
    }

    function headCountChanged() { extend(); beat("head_count"); }

    schedule();
    queue.flush(); // what earlier pages left behind
    return {
      sessionId: sessionId,
      renditionChanged: renditionChanged,
      stalled: startStall,
      headCountChanged: headCountChanged,
      queued: queue.size,
    };
  }

  /* --- the head count ------------------------------------------------------------------ */

  function headCountPrompt(lectureId, onChange) {
    var dialog = document.getElementById("head-count-dialog");
    var button = document.getElementById("head-count-button");
    var shown = document.getElementById("head-count-value");
    var key = "clinicast.headCount." + lectureId;
    var storage = localStore();
    var stored = storage && parseInt(storage.getItem(key) || "", 10);
    var count = stored >= 1 && stored <= 500 ? stored : 1;
    var asked = !!stored;
    if (shown) shown.textContent = String(count);
    if (!dialog) return { count: function () { return count; }, askOnce: function () {} };
    var form = dialog.querySelector("form");
    var input = dialog.querySelector("#head-count-input");
    var error = dialog.querySelector("#head-count-error");

    function open() {
      asked = true;
      input.value = String(count);
      error.hidden = true;
      if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
      input.focus();
      input.select();
    }
    function close() { if (dialog.close) dialog.close(); else dialog.removeAttribute("open"); }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      var value = /^\d{1,3}$/.test(text) ? parseInt(text, 10) : NaN;
      if (!(value >= 1 && value <= 500)) { error.hidden = false; input.focus(); return; }
      close();
      if (storage) storage.setItem(key, String(value));
      if (shown) shown.textContent = String(value);
      if (value !== count) { count = value; onChange(); }
    });
    dialog.querySelector("[data-dismiss]").addEventListener("click", close);
    if (button) button.addEventListener("click", open);
    return {
      count: function () { return count; },
      askOnce: function () { if (!asked) open(); }, // when playback first starts
    };
  }

  /* --- start --------------------------------------------------------------------------- */

  /* Called by player.js: `video`, `lectureId`, `mode` ("vod", "live"), `endpoint`, `owner` (the
   * signed-in user: each user's queue is their own), `heartbeatSeconds`, `rendition()`, and
   * optionally `timeline()`: the playhead in seconds of the lecture's timeline when that is not
   * video.currentTime (live: seconds since the broadcast began). */
  function start(options) {
    var settings = window.clinicastSettings || {};
    var tracker = null;
    var prompt = headCountPrompt(options.lectureId, function () { if (tracker) tracker.headCountChanged(); });
    tracker = startTracker({
      video: options.video,
      queue: openQueue(options.endpoint, options.owner),
      lectureId: options.lectureId,
      mode: options.mode,
      heartbeatSeconds: Number(settings.heartbeatSeconds) || Number(options.heartbeatSeconds) || 15,
      rendition: options.rendition,
      timeline: options.timeline,
      headCount: prompt.count,
      onPlay: prompt.askOnce,
    });
    return tracker;
  }

  window.clinicastAttendance = { start: start };
})();
