// How the app presents the build's model: title, texts and the image input's size, channels and
// background, all from samples.json (written by `edgekit build --target web`), and the runtime the
// build recommends (build.json `recommendation`, from the build's browser profile).

// What the page needs to know about the model's image input and its classes.
export function presentation(samples) {
  const [height, width, channels] = samples.input_shape;
  const names = samples.class_names || [];
  const background = samples.background || borderOf(samples.samples, samples.input_shape);
  return {
    title: samples.app?.title || 'Image classifier',
    description: samples.app?.description || '',
    height, width, channels, names, background,
    size: `${width}×${height}`,
    colour: channels === 1 ? 'grayscale' : 'RGB',
    invertDrawing: background === 'dark',  // a drawing is dark ink on white
  };
}

// "one item (a, b or c)" for up to five class names, else "one item of the N classes".
function classList(names) {
  if (names.length > 5) return `one item of the ${names.length} classes`;
  if (names.length < 2) return 'one item';
  return `one item (${names.slice(0, -1).join(', ')} or ${names.at(-1)})`;
}

function looks(background) {
  if (background === 'dark') return 'light objects on a dark background';
  if (background === 'light') return 'dark objects on a light background';
  return 'photos';
}

// Title, header, hints and the preview canvas, from the model.
export function applyTexts(doc, p, count) {
  const set = (id, text) => { doc.getElementById(id).textContent = text; };
  doc.title = `${p.title} · edgekit demo`;
  doc.querySelector('meta[name="description"]').content = p.description || p.title;
  set('title', p.title);
  set('samples-hint', `${p.description || `${p.size} ${p.colour} images`}. The build exported ${count} test images `
    + `(${looks(p.background)}). Tap one.`);
  set('draw-hint', `Draw ${classList(p.names)} in black. The model takes ${p.size} ${p.colour} images of `
    + `${looks(p.background)}, so your drawing is cropped and shrunk to ${p.size}`
    + `${p.invertDrawing ? ' and inverted' : ''} (see "model input").`);
  set('upload-hint', `One item, centred: the photo is fitted into ${p.size}`
    + `${p.channels === 1 ? ' and turned to grayscale' : ''}. ${uploadRule(p.background)}`);
  const preview = doc.getElementById('preview');
  preview.width = p.width;
  preview.height = p.height;
  preview.setAttribute('aria-label', `model input, ${p.width} by ${p.height} pixels`);
  const pad = doc.getElementById('pad');
  pad.height = Math.round(pad.width * p.height / p.width);
}

function uploadRule(background) {
  if (background === 'dark') return 'Photos on a light background are inverted to light-on-dark, like the training images (auto decides from the border).';
  if (background === 'light') return 'Photos on a dark background are inverted to dark-on-light, like the training images (auto decides from the border).';
  return 'The training images are photos: auto never inverts.';
}

// Whether an upload whose border is light (or not) is inverted: "auto" follows the training images.
export function invertUpload(mode, photoLight, background) {
  if (mode !== 'auto') return mode === 'yes';
  return (background === 'dark' && photoLight) || (background === 'light' && !photoLight);
}

// The app's runtime id for the build's recommendation ({runtime: "litertjs", backend: "wasm"} ->
// "litertjs-wasm"), or null.
export function recommendedId(recommendation) {
  return recommendation?.runtime && recommendation?.backend ? `${recommendation.runtime}-${recommendation.backend}` : null;
}

// A build from before `background` was exported: judge it from the samples' borders (as edgekit does).
function borderOf(samples, [h, w, c]) {
  const ring = Math.max(1, Math.round(Math.min(h, w) / 20));
  const means = samples.filter((s) => s.pixels).map((s) => {
    let sum = 0;
    let n = 0;
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1) {
        if (x >= ring && y >= ring && x < w - ring && y < h - ring) continue;
        const i = (y * w + x) * c;
        sum += c === 1 ? s.pixels[i] : 0.299 * s.pixels[i] + 0.587 * s.pixels[i + 1] + 0.114 * s.pixels[i + 2];
        n += 1;
      }
    }
    return sum / n;
  }).sort((a, b) => a - b);
  if (!means.length) return 'mixed';
  const median = means[means.length >> 1];
  return median < 85 ? 'dark' : median > 170 ? 'light' : 'mixed';
}
