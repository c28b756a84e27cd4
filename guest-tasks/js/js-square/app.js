// The seed's `square`, in JavaScript: built by componentize-js against the `js-square` world
// (which includes `square`). A u64 arrives as a BigInt.
export function square(x) {
  return (x * x) % (1n << 64n);
}
