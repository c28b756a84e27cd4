//! Property tests: random bytes on a pipe never panic the frame decoder nor make it allocate
//! more than the frame limit, and random text never panics the user-facing parsers (sizes,
//! durations, JSON inputs, `--dir` and `--allow-http` grants, `--func` paths, broker URLs,
//! program argument templates).

use proptest::prelude::*;
use wasmtime::component::types::Type;

use super::frame::read_frame;
use super::message::{FromWorker, ToWorker};
use crate::broker::connection::BrokerUrl;
use crate::limits::{parse_duration, parse_size};
use crate::values::params_from_json;
use crate::vocab::CommandSpec;
use crate::vocab::grants::{DirGrant, HttpGrant};
use crate::vocab::module::FunctionPath;

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(2000), ..ProptestConfig::default() })]

    #[test]
    fn frames_from_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut input = &bytes[..];
        let mut buf = Vec::new();
        for _ in 0..8 {
            match read_frame::<_, FromWorker>(&mut input, &mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let mut input = &bytes[..];
        let _ = read_frame::<_, ToWorker>(&mut input, &mut buf);
        prop_assert!(buf.capacity() <= bytes.len().max(64) * 2 + 64);
    }

    #[test]
    fn size_and_duration_parsers_never_panic(text in ".{0,24}") {
        let _ = parse_size(&text);
        let _ = parse_duration(&text);
    }

    #[test]
    fn sizes_round_trip(n in 0u64..1 << 40) {
        prop_assert_eq!(parse_size(&n.to_string()), Ok(n));
        prop_assert_eq!(parse_size(&format!("{n}KiB")).ok(), n.checked_mul(1024));
    }

    #[test]
    fn json_inputs_never_panic(text in ".{0,40}", pick in 0usize..8) {
        let types = [Type::U8, Type::S64, Type::Float32, Type::Char, Type::String, Type::Bool, Type::U64, Type::S8];
        let one = [("x".to_string(), types[pick].clone())];
        let _ = params_from_json(&text, &one);
        let two = [("a".to_string(), types[pick].clone()), ("b".to_string(), Type::U32)];
        let _ = params_from_json(&text, &two);
        let _ = params_from_json(&text, &[]);
    }

    #[test]
    fn integers_never_wrap(n in any::<i64>()) {
        let got = params_from_json(&n.to_string(), &[("x".to_string(), Type::U8)]);
        prop_assert_eq!(got.is_ok(), (0..=255).contains(&n));
    }

    #[test]
    fn grant_func_and_broker_parsers_never_panic(text in "[a-z:/@.\\[\\]0-9#*-]{0,40}|.{0,40}") {
        if let Ok(grant) = DirGrant::parse(&text) {
            // A grant that parsed names a host directory.
            prop_assert!(!grant.host.as_os_str().is_empty(), "{text:?} {grant:?}");
        }
        let _ = HttpGrant::parse(&text);
        let _ = FunctionPath::parse(&text);
        let _ = BrokerUrl::parse(&text);
        let _ = BrokerUrl::parse(&format!("redis://{text}"));
        let _ = BrokerUrl::parse(&format!("rediss://{text}"));
    }

    #[test]
    fn program_templates_never_panic(
        args in proptest::collection::vec("[{}a-z\\\\.0-9 -]{0,12}|.{0,12}", 0..4),
        input in ".{0,40}",
        stdin: bool,
    ) {
        let spec = CommandSpec { program: "p.wasm".into(), args, stdin };
        if let Ok(run) = spec.invocation(&input) {
            prop_assert_eq!(run.argv.first().map(String::as_str), Some("p.wasm"));
        }
        let _ = spec.invocation(&serde_json::Value::String(input).to_string());
    }
}
