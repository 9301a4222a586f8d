// Turning pictures into the model's input (its height, width and channels). Whether a picture is
// inverted to look like the training images is decided in present.mjs from samples.json.

// Raw 0-255 pixels (row-major HWC) of a canvas already at the model's size.
export function canvasPixels(canvas, channels, { invert }) {
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const out = new Float32Array(canvas.width * canvas.height * channels);
  for (let i = 0, o = 0; i < data.length; i += 4) {
    const rgb = [data[i], data[i + 1], data[i + 2]];
    const values = channels === 1 ? [0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]] : rgb;
    for (const v of values) out[o++] = invert ? 255 - v : v;
  }
  return out;
}

// The normalisation edgekit exported with the build: (pixel * scale - mean) / std.
export function normalise(pixels, { scale, mean, std }) {
  return Float32Array.from(pixels, (p) => (p * scale - mean) / std);
}

// Mean brightness of a canvas's outer ring: > 127 means a light background.
export function borderBrightness(canvas) {
  const { width: w, height: h } = canvas;
  const { data } = canvas.getContext('2d').getImageData(0, 0, w, h);
  let sum = 0;
  let n = 0;
  const ring = Math.max(1, Math.round(Math.min(w, h) / 20));
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      if (x >= ring && y >= ring && x < w - ring && y < h - ring) continue;
      const i = (y * w + x) * 4;
      sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      n += 1;
    }
  }
  return sum / n;
}

// Draw `source` (image or canvas, sw x sh) centred into a width x height canvas, keeping its
// aspect ratio; the border is filled with `background`.
export function fit(source, sw, sh, width, height, { background, box } = {}) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = background || '#000';
  ctx.fillRect(0, 0, width, height);
  const [bx, by, bw, bh] = box || [0, 0, sw, sh];
  const s = Math.min(width / bw, height / bh);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, bx, by, bw, bh, (width - bw * s) / 2, (height - bh * s) / 2, bw * s, bh * s);
  return canvas;
}

// Bounding box [x, y, w, h] of the ink (pixels darker than the white pad), padded to a square
// with a margin around the item; null when the pad is empty.
export function inkBox(canvas, { margin = 0.08 } = {}) {
  const { width: w, height: h } = canvas;
  const { data } = canvas.getContext('2d').getImageData(0, 0, w, h);
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      if (data[(y * w + x) * 4] < 200) {
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1) * (1 + 2 * margin);
  const cx = (x0 + x1 + 1) / 2;
  const cy = (y0 + y1 + 1) / 2;
  return [cx - side / 2, cy - side / 2, side, side];
}

// A preview canvas at the model's input size from raw pixels, 1 or 3 channels (what the model sees).
export function paint(canvas, pixels, [height, width, channels]) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(width, height);
  for (let p = 0; p < width * height; p += 1) {
    for (let c = 0; c < 3; c += 1) image.data[p * 4 + c] = pixels[p * channels + (channels === 1 ? 0 : c)];
    image.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}
