//! The fast path for the commonest task shape, one integer in and an integer of the same type
//! out (`square: func(x: u64) -> u64`): a [`TypedFunc`] call lowers and lifts the values with
//! code specialised for them, where the dynamic [`Func::call`](component::Func::call) walks
//! the signature's types for every call (it was most of a worker's time per trivial task).

use compact_str::{CompactString, ToCompactString};
use wasmtime::Store;
use wasmtime::component::types::Type;
use wasmtime::component::{self, TypedFunc, Val};

use super::state::SandboxState;

macro_rules! int_funcs {
    ($($variant:ident($int:ty)),* $(,)?) => {
        /// A component function typed `(T) -> T` for one integer type `T`.
        pub enum IntFunc {
            $(
                #[doc = concat!("`(", stringify!($int), ") -> ", stringify!($int), "`")]
                $variant(TypedFunc<($int,), ($int,)>),
            )*
        }

        impl IntFunc {
            /// The typed view of `func` when its parameters are `params`, one integer, and its
            /// result is of the same type; `None` for any other signature.
            pub fn new(store: &Store<SandboxState>, func: component::Func, params: &[(String, Type)]) -> Option<IntFunc> {
                let [(_, param)] = params else {
                    return None;
                };
                match param {
                    $(Type::$variant => func.typed::<($int,), ($int,)>(store).ok().map(IntFunc::$variant),)*
                    _ => None,
                }
            }

            /// Calls it with `arg` and returns the result as JSON text; `None` when `arg` is not
            /// of its type (the caller then takes the general path).
            pub fn call(&self, store: &mut Store<SandboxState>, arg: &Val) -> Option<wasmtime::Result<CompactString>> {
                match (self, arg) {
                    $((IntFunc::$variant(f), Val::$variant(x)) => {
                        Some(f.call(store, (*x,)).map(|(result,)| result.to_compact_string()))
                    })*
                    _ => None,
                }
            }
        }
    };
}

int_funcs!(
    U8(u8),
    S8(i8),
    U16(u16),
    S16(i16),
    U32(u32),
    S32(i32),
    U64(u64),
    S64(i64),
);
