// Service worker of the edgekit demo app. `edgekit serve` prepends `const BUILD = {...}` (the
// /build.json of the build it serves): cache versions and the files to precache.
//
// Three caches, each named by a hash of its content: the app shell, the runtimes (/vendor/, keyed
// by package-lock.json) and the model (/model/ and /build.json, keyed by the build's files). A new
// build changes this script's bytes, so the browser installs the new worker, which fills a new
// model cache and deletes the old one; the app and runtime caches are kept when unchanged.
// Strategy: cache first for every same-origin GET; a miss goes to the network and is stored
// (LiteRT.js picks one of four ~9 MB wasm files at run time: the one it fetched is what gets cached).
/* global BUILD */
const PREFIX = 'edgekit-demo-';
const CACHES = {
  app: `${PREFIX}app-${BUILD.versions.app}`,
  vendor: `${PREFIX}vendor-${BUILD.versions.vendor}`,
  model: `${PREFIX}model-${BUILD.versions.model}`,
};

function cacheName(pathname) {
  if (pathname.startsWith('/vendor/')) return CACHES.vendor;
  if (pathname.startsWith('/model/') || pathname === '/build.json') return CACHES.model;
  return CACHES.app;
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    for (const [group, urls] of Object.entries(BUILD.precache)) {
      const cache = await caches.open(CACHES[group]);
      const missing = [];
      for (const url of urls) if (!(await cache.match(url))) missing.push(url);
      await cache.addAll(missing);
    }
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const keep = new Set(Object.values(CACHES));
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && !keep.has(name)) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function respond(request) {
  const url = new URL(request.url);
  const cache = await caches.open(cacheName(url.pathname));
  const navigate = request.mode === 'navigate';
  const hit = await cache.match(request, { ignoreSearch: navigate }) || (navigate ? await cache.match('/') : undefined);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.status === 200 && response.type === 'basic') await cache.put(request, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(respond(request));
});
