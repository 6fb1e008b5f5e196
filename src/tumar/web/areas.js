// Areas add their pages to the shell: ONE line each inside the list, of the form
//     await import("./admin/index.js"),
// An area module exports `messages` ({ru, kk, en}) and `routes` (see docs/web.md).

export const AREAS = [
  await import("./admin/index.js"),
  await import("./security/index.js"),
  await import("./notices/index.js"),
  await import("./letters/index.js"),
  await import("./devices/index.js"),
];
