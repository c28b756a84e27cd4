// A JavaScript task that misbehaves on purpose (see `wit/js-misbehave.wit`): an exception
// thrown two calls deep, a TypeError from the engine, and a thrown string.

function check(msg) {
  throw new Error(msg);
}

export function boom(msg) {
  return check(msg);
}

export function nullProperty(x) {
  const nothing = null;
  return nothing.foo + x;
}

export function throwString(msg) {
  throw msg;
}

export function id(x) {
  return x;
}
