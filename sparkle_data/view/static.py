"""The viewer's stylesheet and script (served from memory: no package data files).

The script reads its data from ``<script id="sample-data" type="application/json">`` and
writes nothing but canvas pixels and text nodes: no string from the data reaches ``innerHTML``.
"""

# ruff: noqa: E501  (embedded HTML, CSS and JavaScript)

from __future__ import annotations

from typing import Final

__all__ = ["CSS", "JS"]

CSS: Final = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #16181c; color: #e6e6e6; }
a { color: #8ecbff; }
header { padding: 8px 16px; background: #0d0e11; display: flex; gap: 16px; align-items: baseline; }
header .home { font-weight: 600; text-decoration: none; }
header .root, header .scope { color: #9aa; font-family: monospace; }
main { padding: 12px 16px; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: center; }
form.filters input, form.filters select { background: #22252b; color: #eee; border: 1px solid #444; }
.gallery { list-style: none; padding: 0; display: grid;
  grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
.card { background: #1f2227; border-radius: 6px; padding: 6px; display: flex; flex-direction: column; gap: 3px; }
.card img { width: 100%; image-rendering: auto; background: #000; border-radius: 4px; }
.card .sid { font-family: monospace; }
.card .kw, .card .sortv { color: #aab; font-size: 12px; }
.badge { display: inline-block; font-size: 11px; padding: 1px 6px; border-radius: 8px; background: #444; }
.badge.corpus { background: #1d6b3a; }
.badge.rejected { background: #7a2b2b; }
.warning { color: #f0c060; }
.pages { display: flex; gap: 16px; }
h1 { font-size: 20px; font-family: monospace; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
dl.meta dt { color: #9aa; }
dl.meta dd { margin: 0; white-space: pre-wrap; }
.controls { display: flex; gap: 12px; align-items: center; margin: 8px 0; flex-wrap: wrap; }
#seek { width: 320px; }
.videos { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; }
.stage { position: relative; display: inline-block; line-height: 0; }
.stage video, .stage img { width: 400px; height: auto; background: #000; }
.stage canvas { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
figcaption { color: #9aa; font-size: 12px; }
table#scores { border-collapse: collapse; }
table#scores td, table#scores th { padding: 2px 10px; border-bottom: 1px solid #333; text-align: left; }
tr.pass td:last-child { color: #6fdc8c; }
tr.fail td:last-child { color: #ff7b72; }
.label { background: #2c3038; padding: 1px 6px; border-radius: 4px; }
"""

JS: Final = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("sample-data").textContent);
  var colors = ["#ffd600", "#00c8ff", "#78ff50", "#ff7828", "#be78ff", "#ff5078"];
  var fps = data.fps || 16, nFrames = data.num_frames || 1;
  var videos = Array.prototype.slice.call(document.querySelectorAll("video"));
  var master = document.getElementById("source_video") || videos[0];
  var overlay = document.getElementById("overlay");
  var seek = document.getElementById("seek");
  var frameNo = document.getElementById("frame-no");
  var playBtn = document.getElementById("play");
  var maskOn = document.getElementById("mask-on");
  var opacity = document.getElementById("mask-opacity");
  var boxesOn = document.getElementById("boxes-on");
  var masks = {};
  var current = -1;

  function frameOf(t) { return Math.max(0, Math.min(nFrames - 1, Math.floor(t * fps + 1e-3))); }
  function timeOf(f) { return (f + 0.5) / fps; }

  function drawBoxes(ctx, boxes, sx, sy) {
    var n = 0;
    var k = ctx.canvas.width / (ctx.canvas.clientWidth || ctx.canvas.width);
    ctx.lineWidth = Math.max(0.5, 2 * k);
    ctx.font = Math.max(3, 11 * k).toFixed(1) + "px sans-serif";
    ctx.textBaseline = "top";
    boxes.forEach(function (b, j) {
      if (!b.box) { return; }
      var c = colors[j % colors.length];
      var x1 = b.box[0] * sx, y1 = b.box[1] * sy, x2 = b.box[2] * sx, y2 = b.box[3] * sy;
      ctx.strokeStyle = c; ctx.fillStyle = c;
      ctx.strokeRect(x1, y1, Math.max(1, x2 - x1), Math.max(1, y2 - y1));
      ctx.fillText(b.label, x1 + 2, y1 + 2);
      n += 1;
    });
    return n;
  }

  function round2At(f) {
    var best = null;
    (data.boxes && data.boxes.round2 || []).forEach(function (e) {
      if (e.frame <= f && (best === null || e.frame > best.frame)) { best = e; }
    });
    return best;
  }

  function drawOverlay(f) {
    if (!overlay) { return; }
    var ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    overlay.dataset.frame = String(f);
    overlay.dataset.maskDrawn = "0";
    overlay.dataset.boxes = "0";
    if (data.has_mask && maskOn && maskOn.checked) {
      var img = masks[f];
      if (!img) {
        img = new Image();
        img.onload = function () { if (current === f) { drawOverlay(f); } };
        img.src = data.prefix + "/mask/" + encodeURIComponent(data.sample_id) + "/" + f + ".png";
        masks[f] = img;
      } else if (img.complete && img.naturalWidth > 0) {
        ctx.globalAlpha = parseFloat(opacity.value);
        ctx.drawImage(img, 0, 0, overlay.width, overlay.height);
        ctx.globalAlpha = 1;
        overlay.dataset.maskDrawn = "1";
      }
    }
    if (boxesOn && boxesOn.checked) {
      var entry = round2At(f);
      if (entry) {
        var bw = data.boxes.width, bh = data.boxes.height;
        overlay.dataset.boxes = String(drawBoxes(ctx, entry.boxes, overlay.width / bw, overlay.height / bh));
        overlay.dataset.boxFrame = String(entry.frame);
      }
    }
  }

  function show(f) {
    current = f;
    if (seek) { seek.value = String(f); }
    if (frameNo) { frameNo.textContent = "frame " + f; }
    drawOverlay(f);
  }

  function follow(force) {
    videos.forEach(function (v) {
      if (v !== master && (force || Math.abs(v.currentTime - master.currentTime) > 0.5 / fps)) {
        v.currentTime = Math.min(master.currentTime, (v.duration || Infinity) - 0.001);
      }
    });
  }

  if (master) {
    master.addEventListener("seeked", function () { follow(true); show(frameOf(master.currentTime)); });
    master.addEventListener("timeupdate", function () { follow(false); show(frameOf(master.currentTime)); });
    master.addEventListener("loadeddata", function () { show(frameOf(master.currentTime)); });
    master.addEventListener("ended", function () { videos.forEach(function (v) { v.pause(); }); playBtn.textContent = "play"; });
    if (master.requestVideoFrameCallback) {
      var tick = function (now, meta) {
        var f = frameOf(meta.mediaTime);
        if (f !== current) { show(f); }
        master.requestVideoFrameCallback(tick);
      };
      master.requestVideoFrameCallback(tick);
    }
  }
  if (playBtn) {
    playBtn.addEventListener("click", function () {
      if (master.paused) {
        follow(true);
        videos.forEach(function (v) { v.play().catch(function () {}); });
        playBtn.textContent = "pause";
      } else {
        videos.forEach(function (v) { v.pause(); });
        follow(true);
        playBtn.textContent = "play";
      }
    });
  }
  if (seek) {
    seek.addEventListener("input", function () {
      var f = parseInt(seek.value, 10);
      videos.forEach(function (v) { v.pause(); v.currentTime = timeOf(f); });
      if (playBtn) { playBtn.textContent = "play"; }
      show(f);
    });
  }
  [maskOn, opacity, boxesOn].forEach(function (el) {
    if (el) { el.addEventListener("input", function () { drawOverlay(current < 0 ? 0 : current); }); }
  });

  var frame0 = document.getElementById("frame0");
  var r1 = document.getElementById("r1-overlay");
  function drawRound1() {
    if (!frame0 || !r1 || !frame0.naturalWidth) { return; }
    r1.width = frame0.naturalWidth; r1.height = frame0.naturalHeight;
    var ctx = r1.getContext("2d");
    ctx.clearRect(0, 0, r1.width, r1.height);
    var n = 0;
    if (data.boxes && data.boxes.round1) {
      n = drawBoxes(ctx, data.boxes.round1.boxes, r1.width / data.boxes.width, r1.height / data.boxes.height);
    }
    r1.dataset.boxes = String(n);
  }
  if (frame0) {
    if (frame0.complete) { drawRound1(); }
    frame0.addEventListener("load", drawRound1);
  }
  window.sparkleView = { show: show, timeOf: timeOf, frameOf: frameOf, data: data };
})();
"""
