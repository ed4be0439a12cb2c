/* Clinicast player on poor links (used by player.js):
 *
 * - where to start: the clinic's declared bandwidth and the throughput measured on this very
 *   page's own fetches (the scripts just came over the same link), whichever is lower;
 * - hls.js settings that prefer no stall to a higher rung: a conservative up-switch, a long
 *   forward buffer on demand, patient retries on a slow or failing link;
 * - audio only by itself when even the lowest video rung keeps stalling, with a notice and a
 *   way back to video;
 * - after an outage, loading resumes by itself (no reload) when the link returns. */
(function () {
  "use strict";

  var BUDGET = 0.8; // share of the estimated link a rung may use, as the server's start rule

  /* kbit/s measured from the page's largest script or style fetched over the network, or 0. */
  function measuredKbps() {
    if (!window.performance || !performance.getEntriesByType) return 0;
    var best = 0;
    performance.getEntriesByType("resource").forEach(function (entry) {
      var seconds = (entry.responseEnd - entry.responseStart) / 1000;
      // Small or cached files say nothing about the link.
      if (entry.transferSize < 30000 || seconds <= 0.05) return;
      var kbps = (entry.transferSize * 8) / 1000 / seconds;
      if (entry.transferSize > best) best = kbps;
    });
    return Math.round(best);
  }

  /* The estimate to start from (bit/s): the lower of declared and measured, when known. */
  function startEstimate(declaredKbps) {
    var measured = measuredKbps();
    var known = [declaredKbps, measured].filter(function (v) { return v > 0; });
    return known.length ? Math.min.apply(null, known) * 1000 : 0;
  }

  /* The level to start at: the highest whose bitrate fits the budget, else the lowest. Never
   * the sound only on a measurement: a small file over a long round trip looks slower than
   * the link is (TCP's slow start); only the clinic's declared bandwidth starts without
   * video (the server's start rendition), and stalls on the lowest rung fall back to it. */
  function startLevel(levels, estimate) {
    if (!estimate || !levels.length) return null;
    var order = levels.map(function (level, index) { return { index: index, bitrate: level.bitrate }; })
      .sort(function (a, b) { return a.bitrate - b.bitrate; });
    var chosen = order[0].index;
    order.forEach(function (level) { if (level.bitrate <= BUDGET * estimate) chosen = level.index; });
    return chosen;
  }

  function hlsConfig(position, estimate, live) {
    var config = {
      autoStartLoad: false,
      startPosition: position,
      capLevelToPlayerSize: false,
      // Up-switch only with a clear margin; down-switch early: no stall beats a sharper picture.
      abrBandWidthFactor: 0.8,
      abrBandWidthUpFactor: 0.5,
      // On demand, buffer a minute ahead (up to two): an outage of a minute goes unnoticed.
      maxBufferLength: live ? 12 : 60,
      maxMaxBufferLength: live ? 24 : 120,
      // A slow link takes long for a segment; a failing one needs patient retries.
      fragLoadPolicy: {
        default: {
          maxTimeToFirstByteMs: 20000,
          maxLoadTimeMs: 120000,
          timeoutRetry: { maxNumRetry: 4, retryDelayMs: 1000, maxRetryDelayMs: 8000 },
          errorRetry: { maxNumRetry: 8, retryDelayMs: 1000, maxRetryDelayMs: 8000 },
        },
      },
    };
    if (estimate) config.abrEwmaDefaultEstimate = estimate;
    return config;
  }

  /* Watch playback: when the lowest video rung stalls twice within a minute (or for more than
   * six seconds in all), call ``fallBack``; after an outage, ``resume`` when the link returns. */
  function watch(video, options) {
    var stalls = [];
    var stalledSince = null;
    var stalledTotal = 0;
    var playedOnce = false;

    function onLowestVideo() { return options.onLowestVideoRung(); }

    video.addEventListener("playing", function () {
      playedOnce = true;
      if (stalledSince !== null) {
        if (onLowestVideo()) stalledTotal += (Date.now() - stalledSince) / 1000;
        stalledSince = null;
      }
    });
    video.addEventListener("waiting", function () {
      if (!playedOnce || video.seeking) return;
      stalledSince = Date.now();
      if (!onLowestVideo()) return;
      var now = Date.now();
      stalls = stalls.filter(function (t) { return now - t < 60000; });
      stalls.push(now);
      if (stalls.length >= 2 || stalledTotal > 6) {
        stalls = [];
        stalledTotal = 0;
        options.fallBack();
      }
    });
    window.addEventListener("online", function () { options.resume(); });
  }

  window.clinicastReach = {
    measuredKbps: measuredKbps,
    startEstimate: startEstimate,
    startLevel: startLevel,
    hlsConfig: hlsConfig,
    watch: watch,
  };
})();
