/* Clinicast player: hls.js (or native HLS), a quality menu with "Audio only", captions,
 * playback speed, a transcript that follows playback and seeks on click, ?t= deep links, and
 * attendance heartbeats with the head count (heartbeat.js).
 *
 * Media URLs are signed and short-lived. When one has expired (a player paused for longer than
 * the lifetime, then resumed), the server answers 403: the player asks for fresh URLs and
 * rebuilds itself at the same position and quality. */
(function () {
  "use strict";

  var config = document.getElementById("player-config");
  var video = document.getElementById("player");
  if (!config || !video) return;
  var data = config.dataset;
  var quality = document.getElementById("quality");
  var speed = document.getElementById("speed");
  var captionsToggle = document.getElementById("captions-toggle");
  var transcript = document.getElementById("transcript");
  var statusLine = document.getElementById("player-status");

  var state = {
    master: data.master,
    audio: data.audio || null,
    choice: "auto", // "auto", a height ("360") or "audio"
    hls: null,
    level: -1, // the hls.js level playing (LEVEL_SWITCHED)
    lastRefresh: 0,
  };
  var api = { video: video };
  Object.defineProperty(api, "hls", { get: function () { return state.hls; } });
  Object.defineProperty(api, "choice", { get: function () { return state.choice; } });
  window.clinicastPlayer = api;

  function say(text) { if (statusLine) statusLine.textContent = text || ""; }

  /* The rendition playing, as attendance reports it: a height ("360"), "audio" or "". */
  function currentRendition() {
    if (state.choice === "audio") return "audio";
    var level = state.hls ? state.hls.levels[state.level] : null;
    if (level) return level.height ? String(level.height) : "audio";
    return !state.hls && video.videoHeight ? String(video.videoHeight) : "";
  }

  var attendance = window.clinicastAttendance && data.attendanceEndpoint
    ? window.clinicastAttendance.start({
      video: video,
      lectureId: parseInt(data.lecture, 10),
      mode: data.attendanceMode || "vod",
      endpoint: data.attendanceEndpoint,
      owner: data.attendanceOwner || "anonymous",
      heartbeatSeconds: parseFloat(data.heartbeatSeconds),
      rendition: currentRendition,
    })
    : null;
  api.attendance = attendance;

  /* --- the source ---------------------------------------------------------------------- */

  function levelForHeight(hls, height) {
    for (var i = 0; i < hls.levels.length; i++) {
      if (String(hls.levels[i].height) === String(height)) return i;
    }
    return -1;
  }

  function build(position, onReady) {
    var source = state.choice === "audio" && state.audio ? state.audio : state.master;
    if (state.hls) { state.hls.destroy(); state.hls = null; }
    state.level = -1;
    var rate = video.playbackRate;
    if (window.Hls && window.Hls.isSupported()) {
      var live = data.attendanceMode === "live";
      var estimate = reach ? reach.startEstimate(parseInt(data.bandwidthKbps || "0", 10)) : 0;
      var hls = new window.Hls(reach
        ? reach.hlsConfig(position, estimate, live)
        : { autoStartLoad: false, startPosition: position, capLevelToPlayerSize: false });
      state.hls = hls;
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
        if (state.choice === "auto" && reach && estimate) {
          // The lower of the declared and the measured bandwidth picks the first rung.
          var start = reach.startLevel(hls.levels, estimate);
          if (start !== null) hls.startLevel = start;
        } else if (state.choice !== "audio") {
          var wanted = state.choice === "auto" ? data.startRendition : state.choice;
          var index = wanted && wanted !== "audio" ? levelForHeight(hls, wanted) : -1;
          if (index >= 0) hls.startLevel = index;
          if (state.choice !== "auto" && index >= 0) hls.currentLevel = index;
        }
        hls.startLoad(position);
        video.playbackRate = rate;
        if (onReady) onReady();
      });
      hls.on(window.Hls.Events.LEVEL_SWITCHED, function (event, switched) {
        state.level = switched.level;
        if (attendance) attendance.renditionChanged();
      });
      hls.on(window.Hls.Events.ERROR, onHlsError);
      hls.attachMedia(video);
      hls.loadSource(source);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = source;
      video.addEventListener("loadedmetadata", function once() {
        video.removeEventListener("loadedmetadata", once);
        if (position > 0) video.currentTime = position;
        video.playbackRate = rate;
        if (onReady) onReady();
      });
    } else {
      say(data.labelError);
    }
  }

  function onHlsError(event, error) {
    if (attendance && error.details === window.Hls.ErrorDetails.BUFFER_STALLED_ERROR) attendance.stalled();
    var code = error.response && error.response.code;
    if (code === 403) { refresh(); return; }
    if (!error.fatal) return;
    if (error.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
      // The link is down: keep trying (it returns by itself; the 'online' event hurries it).
      say(data.labelExpired);
      setTimeout(resumeLoading, 3000);
    } else if (error.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
      state.hls.recoverMediaError();
    } else {
      say(data.labelError);
    }
  }

  function resumeLoading() {
    if (!state.hls) return;
    state.hls.startLoad(video.currentTime || -1);
    if (!video.paused || video.readyState < 3) video.play().catch(function () {});
  }

  /* --- poor links: the sound only when even the lowest video rung stalls ------------------ */

  var reach = window.clinicastReach || null;
  var notice = document.getElementById("reach-notice");

  function lowestLevel(hls) {
    var lowest = -1;
    for (var i = 0; i < hls.levels.length; i++) {
      if (lowest < 0 || hls.levels[i].bitrate < hls.levels[lowest].bitrate) lowest = i;
    }
    return lowest;
  }

  function switchTo(choice) {
    state.choice = choice;
    if (quality) quality.value = choice;
    build(video.currentTime || 0, function () { video.play().catch(function () {}); });
  }

  function fallBackToAudio() {
    if (!state.audio || state.choice === "audio") return;
    state.fellBack = true;
    switchTo("audio");
    if (notice) notice.hidden = false;
  }

  if (notice) {
    notice.querySelector("button").addEventListener("click", function () {
      notice.hidden = true;
      switchTo("auto");
    });
  }
  if (reach) {
    reach.watch(video, {
      onLowestVideoRung: function () {
        return !!state.hls && state.choice !== "audio" && state.level >= 0 &&
          state.level === lowestLevel(state.hls);
      },
      fallBack: fallBackToAudio,
      resume: resumeLoading,
    });
  }

  /* Fresh signed URLs, then the same position, quality and play state. */
  function refresh() {
    var now = Date.now();
    if (now - state.lastRefresh < 10000) return; // one attempt at a time
    state.lastRefresh = now;
    say(data.labelExpired);
    var playing = !video.paused;
    var position = video.currentTime || 0;
    fetch(data.mediaApi, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (media) {
        state.master = media.master;
        state.audio = media.audio;
        var track = document.getElementById("captions-track");
        if (track && media.captions) track.src = media.captions;
        build(position, function () { say(""); if (playing) video.play().catch(function () {}); });
      })
      .catch(function () { say(data.labelError); });
  }

  if (!window.Hls || !window.Hls.isSupported()) {
    // Native HLS (Safari, iOS): the video element reports a failed load as an error event.
    video.addEventListener("error", function () { if (video.currentTime > 0 || state.master) refresh(); });
  }

  /* --- controls ------------------------------------------------------------------------ */

  if (quality) {
    if (data.startRendition === "audio" && state.audio) {
      state.choice = "audio";
      quality.value = "audio";
    }
    quality.addEventListener("change", function () {
      var previous = state.choice;
      state.choice = quality.value;
      var hls = state.hls;
      var sourceChanges = (previous === "audio") !== (state.choice === "audio");
      if (sourceChanges || !hls) {
        var playing = !video.paused;
        build(video.currentTime || 0, function () { if (playing) video.play().catch(function () {}); });
      } else if (state.choice === "auto") {
        hls.currentLevel = -1;
      } else {
        var index = levelForHeight(hls, state.choice);
        if (index >= 0) hls.currentLevel = index;
      }
    });
  }

  if (speed) {
    speed.addEventListener("change", function () {
      video.playbackRate = parseFloat(speed.value) || 1;
    });
  }

  function captionTrack() {
    return video.textTracks && video.textTracks.length ? video.textTracks[0] : null;
  }
  if (captionsToggle) {
    captionsToggle.addEventListener("click", function () {
      var track = captionTrack();
      if (!track) return;
      var on = track.mode !== "showing";
      track.mode = on ? "showing" : "hidden";
      captionsToggle.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var initial = captionTrack();
    if (initial) initial.mode = "showing";
  }

  /* --- transcript ---------------------------------------------------------------------- */

  var items = transcript ? Array.prototype.slice.call(transcript.querySelectorAll("[data-start]")) : [];
  var current = null;

  function segmentAt(time) {
    var low = 0, high = items.length - 1, found = -1;
    while (low <= high) { // the last segment starting at or before ``time``
      var middle = (low + high) >> 1;
      if (parseFloat(items[middle].dataset.start) <= time) { found = middle; low = middle + 1; }
      else high = middle - 1;
    }
    return found >= 0 ? items[found] : null;
  }

  function follow() {
    var item = segmentAt(video.currentTime + 0.05);
    if (item === current) return;
    if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
    current = item;
    if (!item) return;
    item.classList.add("current");
    item.setAttribute("aria-current", "true");
    // Scroll the panel only, never the page (a phone user may be reading below the video).
    var panel = transcript;
    var top = item.offsetTop - panel.offsetTop;
    if (top < panel.scrollTop || top + item.offsetHeight > panel.scrollTop + panel.clientHeight) {
      panel.scrollTop = Math.max(0, top - panel.clientHeight / 3);
    }
  }
  video.addEventListener("timeupdate", follow);
  video.addEventListener("seeked", follow);

  function seek(seconds) {
    video.currentTime = seconds;
    video.play().catch(function () {});
  }

  if (transcript && items.length) {
    transcript.addEventListener("click", function (event) {
      var item = event.target.closest("[data-start]");
      if (!item) return;
      if (event.target.closest(".seg-edit")) { correct(item); return; }
      event.preventDefault();
      seek(parseFloat(item.dataset.start));
    });
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function correct(item) {
    var textNode = item.querySelector(".seg-text");
    var text = window.prompt(data.labelCorrectPrompt, textNode.textContent);
    if (text === null || !text.trim()) return;
    fetch(data.transcriptApi + "/segments/" + item.dataset.id, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ text: text.trim() }),
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (segment) { textNode.textContent = segment.text; item.classList.add("edited"); })
      .catch(function (error) { say(String(error)); });
  }

  /* --- start --------------------------------------------------------------------------- */

  build(parseFloat(data.start) || 0);
})();
