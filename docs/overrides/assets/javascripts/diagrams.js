/*
 * Every mermaid diagram on the site, readable in light and dark mode and at any width.
 *
 * Material for MkDocs draws each ```mermaid block (and, through docs/hooks/pages.py, each
 * mermaid output of a notebook) by calling `mermaid.initialize()` once, with a stylesheet
 * (`themeCSS`) that colours the drawing from CSS custom properties (`--md-mermaid-*`), then
 * `mermaid.render()` for each diagram, into a closed shadow root. Page CSS cannot reach into
 * that root; only inherited properties (colours, custom properties, `rem`) do. This script,
 * loaded after mermaid (docs/overrides/main.html), wraps those two calls, for every page and
 * every diagram, present and future:
 *
 * 1. `initialize()`: Material's stylesheet gets the rules below added. Material targets the
 *    ids mermaid 10 gave its markers (`#arrowhead`, `#sequencenumber`) and the class names of
 *    mermaid 10's class-diagram markers; mermaid 11 names them after the diagram
 *    (`__mermaid_0-arrowhead`) and classes them differently, so its own defaults win: arrowheads
 *    #333, near-black on the dark page (contrast 1.3:1). A few more of mermaid's defaults are
 *    never themed by Material: the title of an `else`/`and`/`option` branch and a one-line note
 *    (black), activation boxes (#f4f4f4, under white text in dark mode). Every colour here is a
 *    Material custom property, so the palette toggle recolours a diagram already drawn, and
 *    docs/stylesheets/extra.css can change them in one place.
 *
 * 2. `render()`: a wide diagram is no longer shrunk until its text is unreadable. mermaid draws
 *    at `width: 100%; max-width: <its own width>`, so a diagram wider than the column is scaled
 *    down as a whole (a tracer diagram with four lifelines drew its labels at 9.8 px on a laptop,
 *    5 px on a phone). The drawing gets a `min-width` at which its smallest text is as large as
 *    `--diagram-smallest-text` (extra.css: the site's small print); narrower than that, the
 *    diagram scrolls sideways in its own box (extra.css) instead of shrinking further.
 */
(() => {
  "use strict";
  if (typeof mermaid === "undefined" || typeof mermaid.initialize !== "function") return;

  const themeCSS = `
    [id$="-arrowhead"] path, [id$="-filled-head"] path,
    [id$="-solidTopArrowHead"] path, [id$="-solidBottomArrowHead"] path {
      fill: var(--md-mermaid-sequence-message-line-color) !important;
      stroke: none !important;
    }
    [id$="-crosshead"] path, [id$="-stickTopArrowHead"] path, [id$="-stickBottomArrowHead"] path {
      stroke: var(--md-mermaid-sequence-message-line-color) !important;
    }
    [id$="-sequencenumber"] { fill: var(--md-mermaid-sequence-number-bg-color) !important; }
    .sectionTitle, .sectionTitle > tspan { fill: var(--md-mermaid-sequence-loop-fg-color); }
    text.noteText { fill: var(--md-mermaid-sequence-note-fg-color); }
    .activation0, .activation1, .activation2 {
      fill: var(--md-mermaid-sequence-actor-bg-color);
      stroke: var(--md-mermaid-sequence-actor-border-color);
    }
    .actor-line { stroke: var(--md-mermaid-sequence-actor-line-color); }
    marker.marker { stroke: var(--md-mermaid-edge-color) !important; }
    marker.marker:is(.composition, .dependency) { fill: var(--md-mermaid-edge-color) !important; }
    marker.marker.lollipop { fill: var(--md-mermaid-label-bg-color) !important; }
  `;

  const initialize = mermaid.initialize.bind(mermaid);
  mermaid.initialize = (config = {}) =>
    initialize({ ...config, themeCSS: (config.themeCSS || "") + themeCSS });

  // The drawing's width in its own units, and the size of its smallest text in the same units
  // (mermaid's stylesheet sets the sizes, so the drawing is laid out, unseen, to read them).
  const measure = markup => {
    const sandbox = document.createElement("div");
    sandbox.setAttribute("aria-hidden", "true");
    sandbox.style.cssText =
      "position: absolute; left: -100000px; top: 0; width: 1000px; visibility: hidden";
    sandbox.innerHTML = markup;
    document.body.append(sandbox);
    try {
      const drawing = sandbox.querySelector("svg");
      const sizes = [...drawing.querySelectorAll("*")]
        .filter(element => !element.closest("style, title, desc") && [...element.childNodes].some(
          node => node.nodeType === Node.TEXT_NODE && node.textContent.trim()))
        .map(element => parseFloat(getComputedStyle(element).fontSize))
        .filter(size => size > 0);
      const width = drawing.viewBox.baseVal ? drawing.viewBox.baseVal.width : 0;
      return { width, smallest: sizes.length ? Math.min(...sizes) : 0 };
    } finally {
      sandbox.remove();
    }
  };

  const keepTextReadable = markup => {
    const opening = markup.match(/<svg\b[^>]*>/);
    if (!opening) return markup;
    const { width, smallest } = measure(markup);
    if (!(width > 0 && smallest > 0)) return markup;
    const ratio = (width / smallest).toFixed(4);
    const minWidth = `min-width: calc(${ratio} * var(--diagram-smallest-text, 0.64rem));`;
    const tag = opening[0].includes('style="')
      ? opening[0].replace('style="', `style="${minWidth} `)
      : opening[0].replace(/^<svg\b/, `<svg style="${minWidth}"`);
    return markup.replace(opening[0], () => tag);
  };

  const render = mermaid.render.bind(mermaid);
  mermaid.render = async (...args) => {
    const result = await render(...args);
    return { ...result, svg: keepTextReadable(result.svg) };
  };
})();
