"""The viewer's HTML (Jinja2, autoescaped: every string from the data is escaped).

Templates live here as strings so the package needs no data files. ``tojson`` output is safe
inside ``<script>`` (Jinja escapes ``<``, ``>``, ``&`` and quotes in it).
"""

# ruff: noqa: E501  (embedded HTML, CSS and JavaScript)

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

__all__ = ["TEMPLATES", "environment", "render"]

_BASE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Sparkle viewer{% endblock %}</title>
<link rel="stylesheet" href="{{ prefix }}/static/view.css">
</head><body>
<header><a class="home" href="{{ prefix }}/">Sparkle viewer</a>
<span class="root">{{ root }}</span>{% if scope %}<span class="scope">{{ scope }}</span>{% endif %}
</header>
<main>{% block main %}{% endblock %}</main>
{% block scripts %}{% endblock %}
</body></html>
"""

_GALLERY: Final = """{% extends "base.html" %}
{% block main %}
<form class="filters" method="get" action="{{ prefix }}/">
  <label>theme <select name="theme"><option value="">all</option>
  {% for t in themes %}<option value="{{ t }}" {% if t in query.themes %}selected{% endif %}>{{ t }}</option>{% endfor %}
  </select></label>
  <label>subtheme <input name="subtheme" value="{{ query.subthemes|join(',') }}" list="subthemes"></label>
  <datalist id="subthemes">{% for s in subthemes %}<option value="{{ s }}">{% endfor %}</datalist>
  <label>scene <input name="scene" value="{{ query.scene }}"></label>
  <label>keyword <input name="keyword" value="{{ query.keyword }}"></label>
  <label>status <select name="status">{% for s in statuses %}<option {% if s == query.status %}selected{% endif %}>{{ s }}</option>{% endfor %}</select></label>
  <label class="wide">where <input name="where" size="40" value="{{ query.where }}" placeholder="paper and video_min_o_score >= 7.5"></label>
  <label>sort <select name="sort">{% for c in sort_columns %}<option {% if c == query.sort %}selected{% endif %}>{{ c }}</option>{% endfor %}</select></label>
  <label>order <select name="order"><option value="asc">asc</option><option value="desc" {% if query.descending %}selected{% endif %}>desc</option></select></label>
  <button type="submit">apply</button>
</form>
<p class="count" id="count">{{ page.total }} sample{{ '' if page.total == 1 else 's' }}{% if page.pages > 1 %}, page {{ page.page }} of {{ page.pages }}{% endif %}</p>
{% for w in page.warnings %}<p class="warning">{{ w }}</p>{% endfor %}
<ul class="gallery" id="gallery">
{% for card in cards %}
  <li class="card" data-id="{{ card.sample_id }}">
    <a href="{{ prefix }}/sample/{{ card.sample_id }}">
      <img loading="lazy" src="{{ prefix }}/thumb/{{ card.sample_id }}.png" alt="frame 0 of {{ card.sample_id }}">
      <span class="sid">{{ card.sample_id }}</span></a>
    <span class="badge {{ card.status }}">{{ card.badge }}</span>
    {% if card.keyword %}<span class="kw">{{ card.keyword }}</span>{% endif %}
    {% if card.sort_value is not none %}<span class="sortv">{{ query.sort }} = {{ card.sort_value }}</span>{% endif %}
  </li>
{% endfor %}
</ul>
<nav class="pages">
{% if page.page > 1 %}<a rel="prev" href="?{{ link(page=page.page - 1) }}">&larr; previous</a>{% endif %}
{% if page.page < page.pages %}<a rel="next" href="?{{ link(page=page.page + 1) }}">next &rarr;</a>{% endif %}
</nav>
{% endblock %}
"""

_SAMPLE: Final = """{% extends "base.html" %}
{% block title %}{{ s.sample_id }} · Sparkle viewer{% endblock %}
{% block main %}
<h1 id="sid">{{ s.sample_id }} <span class="badge {{ s.status }}">{{ s.badge }}</span></h1>
<dl class="meta">
  <dt>prompt</dt><dd id="prompt">{{ s.prompt or '—' }}</dd>
  <dt>keyword</dt><dd id="keyword">{{ s.keyword or '—' }}</dd>
  <dt>theme / subtheme</dt><dd>{{ s.edit_type }} / {{ s.subtheme or '—' }}</dd>
  <dt>scene</dt><dd id="scene">{{ s.scene or '—' }}</dd>
  <dt>original scene</dt><dd id="original-scene">{{ s.original_scene or '—' }}</dd>
</dl>
{% if videos %}
<section class="player">
  <div class="controls">
    <button id="play" type="button">play</button>
    <input id="seek" type="range" min="0" max="{{ num_frames - 1 }}" value="0" step="1">
    <span id="frame-no">frame 0</span>
    <label><input id="mask-on" type="checkbox" {% if has_mask %}checked{% else %}disabled{% endif %}> mask</label>
    <label>opacity <input id="mask-opacity" type="range" min="0" max="1" step="0.05" value="0.5"></label>
    <label><input id="boxes-on" type="checkbox" {% if has_boxes %}checked{% else %}disabled{% endif %}> boxes (round 2)</label>
  </div>
  <div class="videos">
  {% for v in videos %}
    <figure class="video" data-artifact="{{ v.artifact }}">
      <div class="stage">
        <video id="{{ v.artifact }}" muted playsinline preload="auto" width="{{ v.width }}" height="{{ v.height }}">
          {% for src in v.sources %}<source src="{{ src.url }}" type='{{ src.type }}'>{% endfor %}
        </video>
        {% if v.artifact == 'source_video' %}<canvas id="overlay" width="{{ v.width }}" height="{{ v.height }}"></canvas>{% endif %}
      </div>
      <figcaption>{{ v.title }}</figcaption>
    </figure>
  {% endfor %}
  </div>
</section>
{% else %}
<p class="note">No video of this sample is in this root ({{ s.badge }}).</p>
{% endif %}
{% if frame0 %}
<section class="frame0">
  <figure><div class="stage"><img id="frame0" src="{{ frame0 }}" alt="source frame 0">
  <canvas id="r1-overlay"></canvas></div><figcaption>source frame 0 · round-1 boxes</figcaption></figure>
</section>
{% endif %}
<section class="scores">
<h2>scores <small>against {{ s.preset }}</small></h2>
<table id="scores"><thead><tr><th>score</th><th>value</th><th>threshold</th><th>verdict</th></tr></thead><tbody>
{% for c in s.scores %}
<tr class="{{ 'pass' if c.passed else ('fail' if c.passed is not none else '') }}" data-column="{{ c.column }}">
<td>{{ c.label }}</td><td>{{ c.shown }}</td><td>{{ '≥ %g'|format(c.threshold) if c.threshold is not none else '' }}</td>
<td>{{ 'pass' if c.passed else ('fail' if c.passed is not none else '') }}</td></tr>
{% endfor %}
</tbody></table>
</section>
<section class="labels"><h2>grounding labels</h2>
<p id="labels">{% for l in labels %}<span class="label">{{ l }}</span> {% else %}—{% endfor %}</p></section>
{% endblock %}
{% block scripts %}
<script id="sample-data" type="application/json">{{ data|tojson }}</script>
<script src="{{ prefix }}/static/view.js"></script>
{% endblock %}
"""

_ERROR: Final = """{% extends "base.html" %}
{% block title %}{{ status }} · Sparkle viewer{% endblock %}
{% block main %}
<h1 class="error" id="error-status">{{ status }} {{ reason }}</h1>
<p id="error-detail">{{ detail }}</p>
<p><a href="{{ prefix }}/">back to the gallery</a></p>
{% endblock %}
"""

TEMPLATES: Final[dict[str, str]] = {
    "base.html": _BASE,
    "gallery.html": _GALLERY,
    "sample.html": _SAMPLE,
    "error.html": _ERROR,
}


@lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja2 environment (autoescape on for every template)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.DictLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: Any) -> str:
    """Render one template."""
    text: str = environment().get_template(name).render(**context)
    return text
