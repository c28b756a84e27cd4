//! `mpwasm::bindgen!`: reads a plugin's WIT world with `wit-parser` and generates typed Rust
//! bindings for the application that hosts it: a Rust type per WIT record, variant, enum and
//! flags (mapped to mpwasm's JSON shapes, with serde), a client with a blocking and an async
//! method per export, and a trait per imported interface that the application implements
//! instead of a JSON handler. Re-exported by the `mpwasm` crate, whose `bindings` module holds
//! what the generated code stands on; see its documentation for the options and an example.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token};
use wit_parser::{
    Docs, Function, FunctionKind, InterfaceId, Resolve, Type, TypeDefKind, TypeId, TypeOwner,
    WorldId, WorldItem, WorldKey,
};

/// The longest tuple `mpwasm::bindings` maps (its `ToJson`/`FromJson` impls stop there).
const MAX_TUPLE: usize = 8;

/// Generates typed bindings for a WIT world; see `mpwasm::bindgen`.
#[proc_macro]
pub fn bindgen(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let options = syn::parse_macro_input!(input as Options);
    match generate(&options) {
        Ok(tokens) => tokens.into(),
        Err(message) => syn::Error::new(options.span, message)
            .to_compile_error()
            .into(),
    }
}

/// The macro's options: `path = "wit"` (a file or folder, from the crate's manifest) or
/// `inline = "..."` (WIT text), and `world = "name"`.
struct Options {
    path: Option<String>,
    inline: Option<String>,
    world: Option<String>,
    span: Span,
}

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let span = input.span();
        let pairs = Punctuated::<(Ident, LitStr), Token![,]>::parse_terminated_with(input, |p| {
            let key: Ident = p.parse()?;
            p.parse::<Token![=]>()?;
            let value: LitStr = p.parse()?;
            Ok((key, value))
        })?;
        let mut options = Options {
            path: None,
            inline: None,
            world: None,
            span,
        };
        for (key, value) in pairs {
            let slot = match key.to_string().as_str() {
                "path" => &mut options.path,
                "inline" => &mut options.inline,
                "world" => &mut options.world,
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown option `{other}`: the options are path, inline, world"),
                    ));
                }
            };
            *slot = Some(value.value());
        }
        if options.path.is_some() == options.inline.is_some() {
            return Err(syn::Error::new(
                span,
                "give the WIT as `path = \"wit\"` (a file or folder) or `inline = \"...\"`, \
                 and only one of them",
            ));
        }
        Ok(options)
    }
}

fn generate(options: &Options) -> Result<TokenStream, String> {
    let mut resolve = Resolve::default();
    let mut tracked: Vec<PathBuf> = Vec::new();
    let package = if let Some(path) = &options.path {
        let root = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_default();
        let full = root.join(path);
        let (package, sources) = resolve
            .push_path(&full)
            .map_err(|e| format!("cannot read the WIT at {}: {e:#}", full.display()))?;
        tracked.extend(sources.paths().map(Path::to_path_buf));
        package
    } else {
        let text = options.inline.as_deref().unwrap_or_default();
        resolve
            .push_str("inline.wit", text)
            .map_err(|e| format!("the inline WIT does not parse: {e:#}"))?
    };
    let world = resolve
        .select_world(&[package], options.world.as_deref())
        .map_err(|e| format!("{e:#}"))?;
    let generator = Generator::new(&resolve, world);
    let items = generator.all()?;
    // Rebuild when a WIT file changes, so a change the code does not follow fails to compile.
    let tracked = tracked.iter().filter_map(|p| p.to_str()).map(|p| {
        quote!(
            const _: &[u8] = include_bytes!(#p);
        )
    });
    Ok(quote! {
        #(#tracked)*
        #items
    })
}

/// Where generated code sits: the macro's own place, or an interface's module in it.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Root,
    Interface(InterfaceId),
}

struct Generator<'a> {
    resolve: &'a Resolve,
    world: WorldId,
    /// The module of each interface bindings are made for.
    modules: HashMap<InterfaceId, Ident>,
}

/// Packages mpwasm answers itself (WASI, its shared state): no bindings for them.
fn answered_by_mpwasm(resolve: &Resolve, id: InterfaceId) -> bool {
    let Some(package) = resolve.interfaces[id].package else {
        return false;
    };
    let name = &resolve.packages[package].name;
    name.namespace == "wasi" || (name.namespace == "mpwasm" && name.name == "shared")
}

/// A Rust identifier for a WIT name, escaping keywords.
fn ident(name: &str) -> Ident {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern",
        "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
        "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use",
        "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro", "override",
        "priv", "try", "typeof", "unsized", "virtual", "yield",
    ];
    match name {
        "self" | "Self" | "super" | "crate" => format_ident!("{name}_"),
        _ if KEYWORDS.contains(&name) => Ident::new_raw(name, Span::call_site()),
        _ => format_ident!("{name}"),
    }
}

fn snake(name: &str) -> Ident {
    ident(&name.to_snake_case())
}

fn camel(name: &str) -> Ident {
    ident(&name.to_upper_camel_case())
}

fn docs(docs: &Docs, fallback: &str) -> TokenStream {
    let text = docs
        .contents
        .clone()
        .unwrap_or_else(|| fallback.to_string());
    let lines = text.lines().map(|l| format!(" {l}"));
    quote!(#(#[doc = #lines])*)
}

/// Refuses an exported function the bindings cannot call.
fn check_function(f: &Function) -> Result<(), String> {
    match f.kind {
        FunctionKind::Freestanding => Ok(()),
        FunctionKind::AsyncFreestanding => Err(format!(
            "`{}` is an `async func`: mpwasm calls plain functions only (every call is already \
             a future on the host's side)",
            f.name
        )),
        _ => Err(format!(
            "`{}` belongs to a resource: resources are not supported",
            f.name
        )),
    }
}

/// The Rust names already taken in one place, and by what, to refuse a second.
struct Names {
    place: String,
    taken: HashMap<String, String>,
}

impl Names {
    fn new(place: &str) -> Names {
        Names {
            place: place.to_string(),
            taken: HashMap::new(),
        }
    }

    fn reserve(&mut self, rust: &str, by: &str) {
        self.taken.insert(rust.to_string(), by.to_string());
    }

    fn add(&mut self, rust: &str, by: &str) -> Result<(), String> {
        match self.taken.insert(rust.to_string(), by.to_string()) {
            Some(other) => Err(format!(
                "{by} and {other} would both be `{rust}` in {}; rename one in the WIT",
                self.place
            )),
            None => Ok(()),
        }
    }
}

/// A client's method names: two per function (blocking and `_async`) besides `new`, `with`.
struct Methods(Names);

impl Methods {
    fn new(client: &str) -> Methods {
        let mut names = Names::new(client);
        names.reserve("new", "the client's constructor");
        names.reserve("with", "the client's per-call options");
        Methods(names)
    }

    fn reserve(&mut self, rust: &str, by: &str) {
        self.0.reserve(rust, by);
    }

    fn add(&mut self, f: &Function) -> Result<(), String> {
        let method = f.name.to_snake_case();
        let by = format!("the function `{}`", f.name);
        self.0.add(&snake(&f.name).to_string(), &by)?;
        self.0.add(
            &format!("{method}_async"),
            &format!("{by} (its async method)"),
        )
    }
}

impl<'a> Generator<'a> {
    fn new(resolve: &'a Resolve, world: WorldId) -> Generator<'a> {
        let w = &resolve.worlds[world];
        let mut modules = HashMap::new();
        for item in w.imports.values().chain(w.exports.values()) {
            if let WorldItem::Interface { id, .. } = item
                && !answered_by_mpwasm(resolve, *id)
                && let Some(name) = &resolve.interfaces[*id].name
            {
                modules.insert(*id, snake(name));
            }
        }
        Generator {
            resolve,
            world,
            modules,
        }
    }

    /// Refuses what would generate code that does not compile, naming the WIT that causes
    /// it: inline interfaces, async functions, and two WIT names that become one Rust name in
    /// the same place (after case conversion, or against a name the macro generates itself).
    fn check_names(&self) -> Result<(), String> {
        let w = &self.resolve.worlds[self.world];
        let mut modules: HashMap<String, String> = HashMap::new();
        let mut root = Names::new("the world's own items");
        root.reserve(&camel(&w.name).to_string(), "the world's client");
        root.reserve(
            "WorldImports",
            "the trait of the functions the world imports",
        );
        for (items, what) in [(&w.imports, "imports"), (&w.exports, "exports")] {
            for (key, item) in items {
                match item {
                    WorldItem::Interface { id, .. } if !answered_by_mpwasm(self.resolve, *id) => {
                        let iface = &self.resolve.interfaces[*id];
                        if iface.name.is_none() {
                            let key = match key {
                                WorldKey::Name(name) => name.clone(),
                                WorldKey::Interface(_) => "?".to_string(),
                            };
                            return Err(format!(
                                "the world `{}` {what} the inline interface `{key}`: bindgen! \
                                 binds named interfaces only; declare `interface {key} {{ .. }}` \
                                 in the package and `{} {key};` in the world",
                                w.name,
                                &what[..what.len() - 1]
                            ));
                        }
                        let id_name = self.resolve.id_of(*id).unwrap_or_default();
                        let module = self.modules[id].to_string();
                        if let Some(other) = modules.get(&module)
                            && other != &id_name
                        {
                            return Err(format!(
                                "the interfaces `{other}` and `{id_name}` would both be the \
                                 module `{module}`; bind one world that uses only one of them"
                            ));
                        }
                        modules.insert(module, id_name);
                    }
                    WorldItem::Type { id, .. } => {
                        let name = self.resolve.types[*id].name.as_deref().unwrap_or("?");
                        root.add(&camel(name).to_string(), &format!("the type `{name}`"))?;
                        self.check_members(*id)?;
                    }
                    WorldItem::Function(f) if what == "exports" => check_function(f)?,
                    _ => {}
                }
            }
        }
        for (&id, module) in &self.modules {
            let iface = &self.resolve.interfaces[id];
            let id_name = self.resolve.id_of(id).unwrap_or_default();
            let mut names = Names::new(&format!("the module `{module}` (`{id_name}`)"));
            if w.imports
                .values()
                .any(|i| matches!(i, WorldItem::Interface { id: i, .. } if *i == id))
            {
                let trait_name = camel(iface.name.as_deref().unwrap_or("imports")).to_string();
                names.reserve(&trait_name, "the trait the application implements");
            }
            if w.exports
                .values()
                .any(|i| matches!(i, WorldItem::Interface { id: i, .. } if *i == id))
            {
                names.reserve("Exports", "the interface's client");
                let mut methods = Methods::new(&format!("`{id_name}`'s client"));
                for f in iface.functions.values() {
                    check_function(f)?;
                    methods.add(f)?;
                }
            }
            for (name, ty) in &iface.types {
                names.add(&camel(name).to_string(), &format!("the type `{name}`"))?;
                self.check_members(*ty)?;
            }
        }
        let mut methods = Methods::new(&format!("the `{}` world's client", w.name));
        for module in modules.keys() {
            methods.reserve(module, "an exported interface's accessor");
        }
        for item in w.exports.values() {
            if let WorldItem::Function(f) = item {
                methods.add(f)?;
            }
        }
        Ok(())
    }

    /// Refuses two fields, cases or flags of one type that become one Rust name.
    fn check_members(&self, id: TypeId) -> Result<(), String> {
        let def = &self.resolve.types[id];
        let name = def.name.as_deref().unwrap_or("?");
        let (what, members, rust): (&str, Vec<&str>, fn(&str) -> Ident) = match &def.kind {
            TypeDefKind::Record(r) => ("field", r.fields.iter().map(|f| &*f.name).collect(), snake),
            TypeDefKind::Variant(v) => ("case", v.cases.iter().map(|c| &*c.name).collect(), camel),
            TypeDefKind::Enum(e) => ("case", e.cases.iter().map(|c| &*c.name).collect(), camel),
            TypeDefKind::Flags(f) => ("flag", f.flags.iter().map(|f| &*f.name).collect(), snake),
            _ => return Ok(()),
        };
        let mut names = Names::new(&format!("the type `{name}`"));
        for wit in members {
            names.add(&rust(wit).to_string(), &format!("the {what} `{wit}`"))?;
        }
        Ok(())
    }

    fn all(&self) -> Result<TokenStream, String> {
        self.check_names()?;
        let w = &self.resolve.worlds[self.world];
        let mut out = TokenStream::new();
        let mut interfaces: Vec<(InterfaceId, bool, bool)> = Vec::new();
        for (items, export) in [(&w.imports, false), (&w.exports, true)] {
            for item in items.values() {
                match item {
                    WorldItem::Interface { id, .. } if self.modules.contains_key(id) => {
                        match interfaces.iter_mut().find(|(i, ..)| i == id) {
                            Some(entry) => {
                                entry.1 |= !export;
                                entry.2 |= export;
                            }
                            None => interfaces.push((*id, !export, export)),
                        }
                    }
                    WorldItem::Type { id, .. } => out.extend(self.type_def(*id, Scope::Root)?),
                    _ => {}
                }
            }
        }
        for (id, imported, exported) in &interfaces {
            out.extend(self.interface(*id, *imported, *exported)?);
        }
        out.extend(self.world_client(&interfaces)?);
        out.extend(self.world_imports()?);
        Ok(out)
    }

    /// An interface's module: its types, its trait when imported, its client when exported.
    fn interface(
        &self,
        id: InterfaceId,
        imported: bool,
        exported: bool,
    ) -> Result<TokenStream, String> {
        let iface = &self.resolve.interfaces[id];
        let module = &self.modules[&id];
        let scope = Scope::Interface(id);
        let name = self.resolve.id_of(id).unwrap_or_default();
        let mut body = TokenStream::new();
        for ty in iface.types.values() {
            body.extend(self.type_def(*ty, scope)?);
        }
        let functions: Vec<&Function> = iface.functions.values().collect();
        if imported {
            let trait_name = camel(iface.name.as_deref().unwrap_or("imports"));
            body.extend(self.import_trait(&trait_name, &name, &functions, scope)?);
            body.extend(quote! {
                /// The import's name, as the pool registers its handler.
                pub const NAME: &str = #name;

                /// Registers `app` as the answer to every function of this interface.
                pub fn add_to<T: #trait_name>(
                    builder: ::mpwasm::PoolBuilder,
                    app: ::std::sync::Arc<T>,
                ) -> ::mpwasm::PoolBuilder {
                    builder.host(NAME, handler(app))
                }
            });
        }
        if exported {
            let doc = format!(" Typed calls to the exports of `{name}`, through one pool.");
            body.extend(self.client(
                &format_ident!("Exports"),
                &doc,
                &functions,
                Some(&name),
                scope,
                &[],
            )?);
        }
        let doc = docs(&iface.docs, &format!("Bindings for `{name}`."));
        Ok(quote! {
            #doc
            #[allow(clippy::all, unused_imports, dead_code)]
            pub mod #module {
                #body
            }
        })
    }

    /// The world's own client: its functions, and the clients of the interfaces it exports.
    fn world_client(
        &self,
        interfaces: &[(InterfaceId, bool, bool)],
    ) -> Result<TokenStream, String> {
        let w = &self.resolve.worlds[self.world];
        let functions: Vec<&Function> = w
            .exports
            .values()
            .filter_map(|item| match item {
                WorldItem::Function(f) => Some(f),
                _ => None,
            })
            .collect();
        let subs: Vec<Ident> = interfaces
            .iter()
            .filter(|(_, _, exported)| *exported)
            .map(|(id, ..)| self.modules[id].clone())
            .collect();
        let doc = format!(
            " Typed calls to the exports of the `{}` world, through one pool: a blocking and \
             an `_async` method per exported function (the future cancels its call when \
             dropped), and the clients of the exported interfaces.",
            w.name
        );
        self.client(&camel(&w.name), &doc, &functions, None, Scope::Root, &subs)
    }

    /// A client struct: one `Export` per function, looked up when it is made.
    fn client(
        &self,
        name: &Ident,
        doc: &str,
        functions: &[&Function],
        interface: Option<&str>,
        scope: Scope,
        subs: &[Ident],
    ) -> Result<TokenStream, String> {
        let paths: Vec<String> = functions
            .iter()
            .map(|f| match interface {
                Some(i) => format!("{i}#{}", f.name),
                None => f.name.clone(),
            })
            .collect();
        let mut methods = TokenStream::new();
        for (n, (f, path)) in functions.iter().zip(&paths).enumerate() {
            let method = snake(&f.name);
            let method_async = format_ident!("{}_async", f.name.to_snake_case());
            let mut params = Vec::new();
            let mut values = Vec::new();
            for p in &f.params {
                let pname = snake(&p.name);
                let pty = self.param_type(&p.ty, scope)?;
                params.push(quote!(#pname: #pty));
                values.push(quote!(::mpwasm::bindings::ToJson::to_json(&#pname)));
            }
            let result = match &f.result {
                Some(t) => self.rust_type(t, scope)?,
                None => quote!(()),
            };
            let names: Vec<Ident> = f.params.iter().map(|p| snake(&p.name)).collect();
            let doc = docs(&f.docs, &format!("Calls `{path}`."));
            let doc_async = format!(
                " [`{method}`](Self::{method}) without blocking: a future (dropping it cancels the call)."
            );
            methods.extend(quote! {
                #doc
                ///
                /// # Errors
                /// The task's error, or `bad-input` when its result does not fit.
                pub fn #method(&self, #(#params),*) -> ::std::result::Result<#result, ::mpwasm::TaskError> {
                    self.#method_async(#(#names),*).wait()
                }

                #[doc = #doc_async]
                pub fn #method_async(&self, #(#params),*) -> ::mpwasm::bindings::Call<#result> {
                    ::mpwasm::bindings::Call::new(#path, self.exports[#n].apply_async(vec![#(#values),*]))
                }
            });
        }
        let sub_fields = subs
            .iter()
            .map(|module| quote!(#module: #module::Exports<'p>));
        let sub_new = subs
            .iter()
            .map(|module| quote!(#module: #module::Exports::new(pool.clone())?));
        let sub_with = subs
            .iter()
            .map(|module| quote!(#module: self.#module.with(options.clone())?));
        let sub_get = subs.iter().map(|module| {
            let doc = format!(" The client of the exported interface `{module}`.");
            quote! {
                #[doc = #doc]
                pub fn #module(&self) -> &#module::Exports<'p> {
                    &self.#module
                }
            }
        });
        Ok(quote! {
            #[doc = #doc]
            #[derive(Clone)]
            pub struct #name<'p> {
                exports: ::std::vec::Vec<::mpwasm::Export<'p>>,
                #(#sub_fields,)*
            }

            impl<'p> #name<'p> {
                /// The functions it calls, as `Pool::export` names them.
                pub const FUNCTIONS: &'static [&'static str] = &[#(#paths),*];

                /// A client calling through `pool`: a `&Pool`, or a `Plugin` of a pool of
                /// plugins.
                ///
                /// # Errors
                /// `Error::NoSuchFunction` when the pool's module lacks one of the functions
                /// (it was built from another WIT).
                pub fn new(pool: impl ::mpwasm::ExportSource<'p> + ::std::clone::Clone) -> ::std::result::Result<Self, ::mpwasm::Error> {
                    let exports = Self::FUNCTIONS
                        .iter()
                        .map(|name| pool.export(name))
                        .collect::<::std::result::Result<_, _>>()?;
                    Ok(Self { exports, #(#sub_new,)* })
                }

                /// The same client, every call carrying `options` (timeout, fuel, context).
                ///
                /// # Errors
                /// As `Export::with`.
                pub fn with(&self, options: ::mpwasm::CallOptions) -> ::std::result::Result<Self, ::mpwasm::Error> {
                    let exports = self
                        .exports
                        .iter()
                        .map(|e| e.clone().with(options.clone()))
                        .collect::<::std::result::Result<_, _>>()?;
                    Ok(Self { exports, #(#sub_with,)* })
                }

                #(#sub_get)*

                #methods
            }
        })
    }

    /// The trait an application implements to answer an imported interface, and the
    /// handler that decodes each call for it.
    fn import_trait(
        &self,
        trait_name: &Ident,
        import: &str,
        functions: &[&Function],
        scope: Scope,
    ) -> Result<TokenStream, String> {
        let mut methods = TokenStream::new();
        let mut arms = TokenStream::new();
        for f in functions {
            let method = snake(&f.name);
            let fname = &f.name;
            let mut params = Vec::new();
            let mut decode = Vec::new();
            let mut names = Vec::new();
            for (i, p) in f.params.iter().enumerate() {
                let pname = snake(&p.name);
                let pty = self.rust_type(&p.ty, scope)?;
                let label = &p.name;
                params.push(quote!(#pname: #pty));
                decode
                    .push(quote!(let #pname: #pty = ::mpwasm::bindings::arg(__call, #i, #label)?;));
                names.push(pname);
            }
            // A function returning `result<T, E>` answers `Result<T, E>`: its `Err` is the
            // guest's `err`. Any other answers `Result<T, HostError>`: its error fails the task.
            let (returns, answer) = match self.result_parts(f.result.as_ref(), scope)? {
                Some((ok, err)) => (
                    quote!(::std::result::Result<#ok, #err>),
                    quote! {
                        match __app.#method(__call, #(#names),*) {
                            Ok(value) => Ok(::mpwasm::bindings::ToJson::to_json(&value)),
                            Err(err) => Err(::mpwasm::bindings::err_value(&err)),
                        }
                    },
                ),
                None => {
                    let ty = match &f.result {
                        Some(t) => self.rust_type(t, scope)?,
                        None => quote!(()),
                    };
                    (
                        quote!(::std::result::Result<#ty, ::mpwasm::HostError>),
                        quote! {
                            let value = __app.#method(__call, #(#names),*)?;
                            Ok(::mpwasm::bindings::ToJson::to_json(&value))
                        },
                    )
                }
            };
            let doc = docs(&f.docs, &format!("Answers `{fname}`."));
            methods.extend(quote! {
                #doc
                fn #method(&self, __call: &::mpwasm::HostCallInfo<'_>, #(#params),*) -> #returns;
            });
            arms.extend(quote! {
                #fname => {
                    #(#decode)*
                    #answer
                }
            });
        }
        let doc = format!(
            " What the application answers for `{import}`: one method per function, each \
             given the call (its task and context) and the decoded arguments."
        );
        Ok(quote! {
            #[doc = #doc]
            pub trait #trait_name: Send + Sync + 'static {
                #methods
            }

            /// The handler that decodes each call and gives it to `app`.
            pub fn handler<T: #trait_name>(__app: ::std::sync::Arc<T>) -> impl ::mpwasm::HostHandler {
                move |__call: &::mpwasm::HostCallInfo<'_>| -> ::std::result::Result<::mpwasm::bindings::json::Value, ::mpwasm::HostError> {
                    match __call.function() {
                        #arms
                        other => Err(::mpwasm::HostError::new(format!(
                            "`{other}` is not a function of {}", #import
                        ))),
                    }
                }
            }
        })
    }

    /// Functions the world imports directly: one trait, `WorldImports`, registered per name.
    fn world_imports(&self) -> Result<TokenStream, String> {
        let w = &self.resolve.worlds[self.world];
        let functions: Vec<&Function> = w
            .imports
            .values()
            .filter_map(|item| match item {
                WorldItem::Function(f) => Some(f),
                _ => None,
            })
            .collect();
        if functions.is_empty() {
            return Ok(TokenStream::new());
        }
        let name = format_ident!("WorldImports");
        let import = format!("the `{}` world", w.name);
        let tr = self.import_trait(&name, &import, &functions, Scope::Root)?;
        let names = functions.iter().map(|f| &f.name);
        Ok(quote! {
            #[allow(clippy::all, dead_code)]
            mod world_imports {
                use super::*;
                #tr
            }
            pub use world_imports::{WorldImports, handler as world_imports_handler};

            /// Registers `app` as the answer to every function the world imports directly.
            pub fn add_world_imports_to<T: WorldImports>(
                builder: ::mpwasm::PoolBuilder,
                app: ::std::sync::Arc<T>,
            ) -> ::mpwasm::PoolBuilder {
                let mut builder = builder;
                #(builder = builder.host(#names, world_imports::handler(::std::sync::Arc::clone(&app)));)*
                builder
            }
        })
    }

    /// `Some((ok, err))` when `ty` is a `result` (through aliases).
    fn result_parts(
        &self,
        ty: Option<&Type>,
        scope: Scope,
    ) -> Result<Option<(TokenStream, TokenStream)>, String> {
        let Some(Type::Id(id)) = ty else {
            return Ok(None);
        };
        match &self.resolve.types[*id].kind {
            TypeDefKind::Result(r) => {
                let side = |t: &Option<Type>| match t {
                    Some(t) => self.rust_type(t, scope),
                    None => Ok(quote!(())),
                };
                Ok(Some((side(&r.ok)?, side(&r.err)?)))
            }
            TypeDefKind::Type(inner) => self.result_parts(Some(inner), scope),
            _ => Ok(None),
        }
    }

    /// How a client method takes a parameter: small values by value, others borrowed.
    fn param_type(&self, ty: &Type, scope: Scope) -> Result<TokenStream, String> {
        Ok(match ty {
            Type::String => quote!(&str),
            Type::Id(id) if self.resolve.types[*id].name.is_none() => {
                match &self.resolve.types[*id].kind {
                    TypeDefKind::List(inner) => {
                        let inner = self.rust_type(inner, scope)?;
                        quote!(&[#inner])
                    }
                    _ => {
                        let t = self.rust_type(ty, scope)?;
                        quote!(&#t)
                    }
                }
            }
            Type::Id(id) if self.is_copy(*id) => self.rust_type(ty, scope)?,
            Type::Id(_) => {
                let t = self.rust_type(ty, scope)?;
                quote!(&#t)
            }
            _ => self.rust_type(ty, scope)?,
        })
    }

    /// Enums and flags are passed by value.
    fn is_copy(&self, id: TypeId) -> bool {
        matches!(
            self.resolve.types[id].kind,
            TypeDefKind::Enum(_) | TypeDefKind::Flags(_)
        )
    }

    /// The owned Rust type of a WIT type, as code at `scope` names it.
    fn rust_type(&self, ty: &Type, scope: Scope) -> Result<TokenStream, String> {
        Ok(match ty {
            Type::Bool => quote!(bool),
            Type::U8 => quote!(u8),
            Type::U16 => quote!(u16),
            Type::U32 => quote!(u32),
            Type::U64 => quote!(u64),
            Type::S8 => quote!(i8),
            Type::S16 => quote!(i16),
            Type::S32 => quote!(i32),
            Type::S64 => quote!(i64),
            Type::F32 => quote!(f32),
            Type::F64 => quote!(f64),
            Type::Char => quote!(char),
            Type::String => quote!(::std::string::String),
            Type::ErrorContext => {
                return Err("an `error-context` cannot cross mpwasm's JSON".into());
            }
            Type::Id(id) => {
                let def = &self.resolve.types[*id];
                if let Some(name) = &def.name {
                    return self.named_path(*id, name, scope);
                }
                self.kind_type(&def.kind, scope)?
            }
        })
    }

    /// The Rust type of an unnamed WIT type definition.
    fn kind_type(&self, kind: &TypeDefKind, scope: Scope) -> Result<TokenStream, String> {
        Ok(match kind {
            TypeDefKind::Option(t) => {
                let t = self.rust_type(t, scope)?;
                quote!(::std::option::Option<#t>)
            }
            TypeDefKind::Result(r) => {
                let side = |t: &Option<Type>| match t {
                    Some(t) => self.rust_type(t, scope),
                    None => Ok(quote!(())),
                };
                let (ok, err) = (side(&r.ok)?, side(&r.err)?);
                quote!(::std::result::Result<#ok, #err>)
            }
            TypeDefKind::List(t) => {
                let t = self.rust_type(t, scope)?;
                quote!(::std::vec::Vec<#t>)
            }
            TypeDefKind::FixedLengthList(t, n) => {
                let t = self.rust_type(t, scope)?;
                let n = *n as usize;
                quote!([#t; #n])
            }
            TypeDefKind::Tuple(t) if t.types.len() > MAX_TUPLE => {
                return Err(format!(
                    "a tuple of {} elements: bindgen! binds tuples of at most {MAX_TUPLE}; use a \
                     record instead",
                    t.types.len()
                ));
            }
            TypeDefKind::Tuple(t) => {
                let types = t
                    .types
                    .iter()
                    .map(|t| self.rust_type(t, scope))
                    .collect::<Result<Vec<_>, _>>()?;
                quote!((#(#types,)*))
            }
            TypeDefKind::Type(t) => self.rust_type(t, scope)?,
            other => {
                return Err(format!(
                    "a `{}` cannot cross mpwasm's JSON (resources, futures, streams and maps \
                     are not supported by bindgen)",
                    other.as_str()
                ));
            }
        })
    }

    /// The path of a named type from `scope`.
    fn named_path(&self, id: TypeId, name: &str, scope: Scope) -> Result<TokenStream, String> {
        let ty = camel(name);
        Ok(match (self.resolve.types[id].owner, scope) {
            (TypeOwner::Interface(owner), Scope::Interface(here)) if owner == here => quote!(#ty),
            (TypeOwner::Interface(owner), _) => {
                let Some(module) = self.modules.get(&owner) else {
                    let iface = self.resolve.id_of(owner).unwrap_or_default();
                    return Err(format!(
                        "the type `{name}` of `{iface}` is not in the world's bindings (mpwasm \
                         answers that interface itself)"
                    ));
                };
                match scope {
                    Scope::Root => quote!(#module::#ty),
                    Scope::Interface(_) => quote!(super::#module::#ty),
                }
            }
            (_, Scope::Root) => quote!(#ty),
            (_, Scope::Interface(_)) => quote!(super::#ty),
        })
    }

    /// A named type: its Rust definition, its JSON mapping and its serde impls.
    fn type_def(&self, id: TypeId, scope: Scope) -> Result<TokenStream, String> {
        let def = &self.resolve.types[id];
        let Some(wit_name) = &def.name else {
            return Ok(TokenStream::new());
        };
        let name = camel(wit_name);
        let doc = docs(&def.docs, &format!("The WIT type `{wit_name}`."));
        let serde = quote! {
            impl ::mpwasm::bindings::serde::Serialize for #name {
                fn serialize<S: ::mpwasm::bindings::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                    ::mpwasm::bindings::serde::Serialize::serialize(&::mpwasm::bindings::ToJson::to_json(self), s)
                }
            }

            impl<'de> ::mpwasm::bindings::serde::Deserialize<'de> for #name {
                fn deserialize<D: ::mpwasm::bindings::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                    let json = <::mpwasm::bindings::json::Value as ::mpwasm::bindings::serde::Deserialize>::deserialize(d)?;
                    <Self as ::mpwasm::bindings::FromJson>::from_json(&json)
                        .map_err(<D::Error as ::mpwasm::bindings::serde::de::Error>::custom)
                }
            }
        };
        let (definition, to_json, from_json) = match &def.kind {
            TypeDefKind::Record(record) => {
                let mut fields = Vec::new();
                let mut to = Vec::new();
                let mut from = Vec::new();
                for f in &record.fields {
                    let fname = snake(&f.name);
                    let fty = self.rust_type(&f.ty, scope)?;
                    let fdoc = docs(&f.docs, &format!("The field `{}`.", f.name));
                    let key = &f.name;
                    fields.push(quote!(#fdoc pub #fname: #fty));
                    to.push(quote!(object.insert(#key.to_string(), ::mpwasm::bindings::ToJson::to_json(&self.#fname));));
                    let context = format!("field `{}` of `{wit_name}`", f.name);
                    from.push(quote! {
                        #fname: ::mpwasm::bindings::FromJson::from_json(::mpwasm::bindings::field(object, #key))
                            .map_err(|e| format!("{}: {e}", #context))?
                    });
                }
                let what = format!("a `{wit_name}` record (an object)");
                (
                    quote! {
                        #doc
                        #[derive(Debug, Clone, PartialEq)]
                        pub struct #name {
                            #(#fields,)*
                        }
                    },
                    quote! {
                        let mut object = ::mpwasm::bindings::json::Map::new();
                        #(#to)*
                        ::mpwasm::bindings::json::Value::Object(object)
                    },
                    quote! {
                        let object = json.as_object().ok_or_else(|| ::mpwasm::bindings::expected(#what, json))?;
                        Ok(Self { #(#from,)* })
                    },
                )
            }
            TypeDefKind::Variant(variant) => {
                let mut cases = Vec::new();
                let mut to = Vec::new();
                let mut from = Vec::new();
                let all: Vec<&str> = variant.cases.iter().map(|c| c.name.as_str()).collect();
                for c in &variant.cases {
                    let cname = camel(&c.name);
                    let key = &c.name;
                    let cdoc = docs(&c.docs, &format!("The case `{}`.", c.name));
                    let context = format!("case `{}` of `{wit_name}`", c.name);
                    match &c.ty {
                        Some(t) => {
                            let t = self.rust_type(t, scope)?;
                            cases.push(quote!(#cdoc #cname(#t)));
                            to.push(quote!(Self::#cname(payload) => ::mpwasm::bindings::tagged(#key, ::mpwasm::bindings::ToJson::to_json(payload))));
                            from.push(quote!(#key => Ok(Self::#cname(::mpwasm::bindings::FromJson::from_json(payload).map_err(|e| format!("{}: {e}", #context))?))));
                        }
                        None => {
                            cases.push(quote!(#cdoc #cname));
                            to.push(quote!(Self::#cname => ::mpwasm::bindings::json::Value::String(#key.to_string())));
                            from.push(quote!(#key => Ok(Self::#cname)));
                        }
                    }
                }
                let what = format!("a case of `{wit_name}` (\"case\" or {{\"case\": payload}})");
                let unknown = format!(
                    "is not a case of `{wit_name}` (its cases: {})",
                    all.join(", ")
                );
                (
                    quote! {
                        #doc
                        #[derive(Debug, Clone, PartialEq)]
                        pub enum #name {
                            #(#cases,)*
                        }
                    },
                    quote! {
                        match self {
                            #(#to,)*
                        }
                    },
                    quote! {
                        let (case, payload) = ::mpwasm::bindings::case_of(json, #what)?;
                        let _ = payload;
                        match case {
                            #(#from,)*
                            other => Err(format!("`{other}` {}", #unknown)),
                        }
                    },
                )
            }
            TypeDefKind::Enum(e) => {
                let all: Vec<&str> = e.cases.iter().map(|c| c.name.as_str()).collect();
                let names: Vec<Ident> = e.cases.iter().map(|c| camel(&c.name)).collect();
                let cdocs = e
                    .cases
                    .iter()
                    .map(|c| docs(&c.docs, &format!("The case `{}`.", c.name)));
                let keys = &all;
                let what = format!("a case of `{wit_name}` (a string)");
                let unknown = format!(
                    "is not a case of `{wit_name}` (its cases: {})",
                    all.join(", ")
                );
                (
                    quote! {
                        #doc
                        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
                        pub enum #name {
                            #(#cdocs #names,)*
                        }
                    },
                    quote! {
                        ::mpwasm::bindings::json::Value::String(match self {
                            #(Self::#names => #keys,)*
                        }.to_string())
                    },
                    quote! {
                        match json.as_str().ok_or_else(|| ::mpwasm::bindings::expected(#what, json))? {
                            #(#keys => Ok(Self::#names),)*
                            other => Err(format!("`{other}` {}", #unknown)),
                        }
                    },
                )
            }
            TypeDefKind::Flags(flags) => {
                let keys: Vec<&str> = flags.flags.iter().map(|f| f.name.as_str()).collect();
                let names: Vec<Ident> = flags.flags.iter().map(|f| snake(&f.name)).collect();
                let fdocs = flags
                    .flags
                    .iter()
                    .map(|f| docs(&f.docs, &format!("Whether `{}` is set.", f.name)));
                let what = format!("`{wit_name}` flags (an array of names)");
                let unknown = format!(
                    "is not a flag of `{wit_name}` (its flags: {})",
                    keys.join(", ")
                );
                (
                    quote! {
                        #doc
                        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
                        pub struct #name {
                            #(#fdocs pub #names: bool,)*
                        }
                    },
                    quote! {
                        let mut set = ::std::vec::Vec::new();
                        #(if self.#names { set.push(::mpwasm::bindings::json::Value::String(#keys.to_string())); })*
                        ::mpwasm::bindings::json::Value::Array(set)
                    },
                    quote! {
                        let items = json.as_array().ok_or_else(|| ::mpwasm::bindings::expected(#what, json))?;
                        let mut flags = Self::default();
                        for item in items {
                            match item.as_str() {
                                #(Some(#keys) => flags.#names = true,)*
                                _ => return Err(format!("{item} {}", #unknown)),
                            }
                        }
                        Ok(flags)
                    },
                )
            }
            TypeDefKind::Type(t) => {
                // A `use` of another interface's type, or an alias.
                let target = self.rust_type(t, scope)?;
                return Ok(quote!(#doc pub type #name = #target;));
            }
            TypeDefKind::Option(_)
            | TypeDefKind::Result(_)
            | TypeDefKind::List(_)
            | TypeDefKind::Tuple(_)
            | TypeDefKind::FixedLengthList(..) => {
                let target = self.structural(id, scope)?;
                return Ok(quote!(#doc pub type #name = #target;));
            }
            other => {
                return Err(format!(
                    "the type `{wit_name}` is a `{}`, which cannot cross mpwasm's JSON",
                    other.as_str()
                ));
            }
        };
        Ok(quote! {
            #definition

            impl ::mpwasm::bindings::ToJson for #name {
                fn to_json(&self) -> ::mpwasm::bindings::json::Value {
                    #to_json
                }
            }

            impl ::mpwasm::bindings::FromJson for #name {
                fn from_json(json: &::mpwasm::bindings::json::Value) -> ::std::result::Result<Self, String> {
                    #from_json
                }
            }

            #serde
        })
    }

    /// A named structural type's definition (`type bytes = list<u8>`).
    fn structural(&self, id: TypeId, scope: Scope) -> Result<TokenStream, String> {
        self.kind_type(&self.resolve.types[id].kind, scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The macro's error for the inline WIT `text` (world `w`), or its code's length.
    fn refusal(text: &str) -> String {
        let options = Options {
            path: None,
            inline: Some(text.to_string()),
            world: Some("w".to_string()),
            span: Span::call_site(),
        };
        match generate(&options) {
            Ok(code) => format!("no error; {} bytes of code", code.to_string().len()),
            Err(message) => message,
        }
    }

    #[test]
    fn wit_that_would_not_compile_is_refused_naming_its_cause() {
        let cases = [
            (
                "interface document { record document { x: u32 } get: func() -> document; } \
                 world w { import document; export run: func() -> u32; }",
                "the type `document` and the trait the application implements would both be \
                 `Document`",
            ),
            (
                "world w { export api: interface { f: func() -> u32; } }",
                "exports the inline interface `api`",
            ),
            (
                "world w { export new: func() -> u32; }",
                "the function `new` and the client's constructor would both be `new`",
            ),
            (
                "world w { export f: func() -> u32; export f-async: func() -> u32; }",
                "would both be `f_async`",
            ),
            (
                "world w { record v1-2 { x: u32 } record v12 { y: u32 } \
                 export f: func(a: v1-2, b: v12) -> u32; }",
                "would both be `V12`",
            ),
            (
                "interface exports { record exports { x: u32 } f: func() -> exports; } \
                 world w { export exports; }",
                "would both be `Exports`",
            ),
            (
                "world w { export f: func(a: tuple<u8,u8,u8,u8,u8,u8,u8,u8,u8>) -> u32; }",
                "a tuple of 9 elements",
            ),
            (
                "world w { enum level { v1-2, v12 } export f: func(l: level) -> u32; }",
                "the case `v12` and the case `v1-2` would both be `V12` in the type `level`",
            ),
            (
                "world w { export f: async func() -> u32; }",
                "`f` is an `async func`",
            ),
        ];
        for (world, want) in cases {
            let got = refusal(&format!("package a:b; {world}"));
            assert!(got.contains(want), "{world}\n  want: {want}\n  got: {got}");
        }
    }

    #[test]
    fn names_that_only_look_alike_are_accepted() {
        let got = refusal(
            "package a:b; interface app { record document { x: u32 } \
             lookup: func(call: u32, app: string) -> result<u32, string>; } \
             world w { import app; export run: func(d: document) -> u32; use app.{document}; }",
        );
        assert!(got.starts_with("no error"), "{got}");
    }
}
