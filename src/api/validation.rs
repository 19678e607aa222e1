//! Request validation: the JSON-Schema subset Nova's request schemas use, answering with the
//! exact 400 messages Nova's `jsonschema`-based validator produces.
//!
//! Core worker, per request: a handler calls [`validate_body`] on the parsed body or
//! [`validate_query`] on the query pairs before it reads anything. Schemas are `const` trees of
//! [`Keyword`]s declared next to the resource that owns them; nothing is built, parsed or
//! compiled at run time. A request that passes allocates nothing here (the path is a linked
//! list on the stack, values are borrowed views) except for rare spellings: a UUID written
//! with `urn:` or braces, a number string with `_`, a number beyond 2^127. A failing request
//! builds one message.
//!
//! It must never panic on request data, never recurse on it (recursion follows the static
//! schema; printing a value stops at [`MAX_RENDER_DEPTH`]), never report a different error than
//! Nova would for the same body, and never put anything but request data and schema text into a
//! message. No `unsafe`.
//!
//! # Which error is reported
//! Nova raises the first error the validator yields, and the validator runs keywords in the
//! order the schema lists them, so a [`Schema`] is an ordered keyword list and the first failure
//! ends validation:
//!
//! ```text
//! object schemas (Nova's order)   type → properties → required → additionalProperties
//! scalar parameter types          type → pattern/format → bounds/lengths (as Nova lists them)
//! properties                      schema order, only members present in the body
//! patternProperties               per pattern, then members in body order
//! items / allOf                   by index / in order
//! ```
//!
//! # Messages
//! Body errors read `Invalid input for field/attribute <last path element>. Value: <value>.
//! <message>`, query errors `Invalid input for query parameters <parameter>. Value: <value>.
//! <message>`; an error at the root is the bare message, and a `name` format failure is
//! Nova's `InvalidName` text alone. `<value>` is Python's `str()` of the decoded value and the
//! messages use its `repr()`: strings quoted the way Python picks quotes, `True`/`False`/`None`,
//! floats in Python's shortest form (`1e+16`, `1e-05`, `0.0001`), lists and dicts with `repr`
//! inside. Minimum and maximum first turn the instance into a number the way Nova does
//! (`int(x)`, else `float(x)`, else skip), so `"0"` and `0.5` compare as `0`.
//!
//! Semantics are those of the validator Nova runs (JSON Schema 2020-12 with Nova's
//! `minimum`/`maximum` override): `integer` accepts `2.0`, `exclusiveMinimum` is a number and
//! skips strings, `format` checks skip non-strings except `name`, `$` also matches before one
//! final newline (`"12\n"` is all digits).
//!
//! Legacy `/v2` requests are validated in Nova's relaxed mode: unknown members are ignored
//! (Nova strips them) unless the object also has `patternProperties`. The caller picks the
//! schema Nova applies to them (the one declared for 2.0, e.g. `name_with_leading_trailing_spaces`
//! names).
//!
//! Known differences, none reachable with Nova's schemas and ordinary bodies: objects of more
//! than 32 members are hashed by simd-json, so they print in hash order, not body order; a list
//! of unexpected members is sorted where relaxed mode in Nova prints set order; strings of
//! non-ASCII digits are not numbers here; values nested deeper than [`MAX_RENDER_DEPTH`] print
//! cut short.
//!
//! # Example
//! ```
//! use ringnova::api::validation::{parameter_types, validate_body, Keyword, Schema, Type};
//!
//! const CREATE: Schema = Schema::new(&[
//!     Keyword::Type(&[Type::Object]),
//!     Keyword::Properties(&[("ram", parameter_types::FLAVOR_PARAM_POSITIVE)]),
//!     Keyword::Required(&["ram"]),
//!     Keyword::AdditionalProperties(false),
//! ]);
//!
//! let mut body = br#"{"ram": "0"}"#.to_vec();
//! let value = simd_json::to_borrowed_value(&mut body).unwrap();
//! let fault = validate_body(&CREATE, &value, false).unwrap_err();
//! assert_eq!(fault.status, 400);
//! assert_eq!(
//!     fault.message,
//!     "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1"
//! );
//! ```

use std::{cmp::Ordering, fmt, fmt::Write as _, sync::OnceLock};

// The accessor traits by name: the prelude's `ArrayTrait` would turn every `Vec::iter()` here
// into a boxed iterator.
use simd_json::{
    prelude::{TypedArrayValue, TypedScalarValue, ValueAsArray, ValueAsObject, ValueAsScalar},
    value::borrowed::Object,
    BorrowedValue,
};

use super::fault::Fault;

/// Containers nested deeper than this print as `[...]` / `{...}` inside a message.
pub const MAX_RENDER_DEPTH: usize = 100;

/// simd-json keeps objects of up to this many members in insertion order, repeated keys
/// included; larger ones are hashed (deduplicated, unordered).
const SMALL_OBJECT: usize = 32;

/// Python refuses `int()` of a string with more digits than this and falls back to `float()`.
const MAX_INT_DIGITS: usize = 4300;

/// The message of Nova's `InvalidName` for the `name` format.
const INVALID_NAME: &str = "An invalid 'name' value was provided. The name must be: printable \
                            characters. Can not start or end with whitespace.";

/// The message of Nova's `InvalidName` for the `name_with_leading_trailing_spaces` format.
const INVALID_NAME_SPACES: &str = "An invalid 'name' value was provided. The name must be: \
                                   printable characters with at least one non space character";

// ---------------------------------------------------------------------------------------------
// Schema declarations
// ---------------------------------------------------------------------------------------------

/// A JSON type as `type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A string.
    String,
    /// An integer, or a float with no fractional part.
    Integer,
    /// Any number (not a boolean).
    Number,
    /// `true` or `false`.
    Boolean,
    /// An object.
    Object,
    /// An array.
    Array,
    /// `null`.
    Null,
}

impl Type {
    /// The name used in schemas and messages.
    pub const fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::Boolean => "boolean",
            Type::Object => "object",
            Type::Array => "array",
            Type::Null => "null",
        }
    }
}

/// A numeric bound, printed as Python prints it (`2147483647`, `3.40282e+38`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// An integer bound.
    Int(i64),
    /// A float bound.
    Float(f64),
}

/// A value an `enum` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Literal {
    /// A string.
    Str(&'static str),
    /// A boolean (never equal to `0`/`1`).
    Bool(bool),
    /// An integer (equal to a float of the same value).
    Int(i64),
    /// `null`.
    Null,
}

/// A `pattern`: the regular expression's text (for messages) and a predicate that decides
/// exactly what Python's `re.search` decides for it.
///
/// Every predicate must honour Python's `$`, which also matches before one final `\n`.
#[derive(Clone, Copy)]
pub struct Pattern {
    source: Source,
    test: fn(&str) -> bool,
}

/// Where a pattern's text comes from.
#[derive(Clone, Copy)]
enum Source {
    /// Written in the schema.
    Text(&'static str),
    /// Nova's generated `^[<every printable BMP character>]*$`.
    Printable,
}

impl Pattern {
    /// `^[0-9]+$` (`volume_size`, flavor sizes).
    pub const DIGITS: Pattern = Pattern::new("^[0-9]+$", |s| match_digits(s, false));
    /// `^[0-9]*$` (`positive_integer`, `non_negative_integer`).
    pub const DIGITS_OR_EMPTY: Pattern = Pattern::new("^[0-9]*$", |s| match_digits(s, true));
    /// `^-?[0-9]+$` (quota values).
    pub const SIGNED_DIGITS: Pattern = Pattern::new("^-?[0-9]+$", |s| {
        let s = before_final_newline(s);
        match_digits(s.strip_prefix('-').unwrap_or(s), false)
    });
    /// `^[0-9]+(\.[0-9]+)?$` (`rxtx_factor`).
    pub const DECIMAL: Pattern = Pattern::new(r"^[0-9]+(\.[0-9]+)?$", |s| {
        let s = before_final_newline(s);
        let (whole, fraction) = s.split_once('.').unwrap_or((s, "1"));
        match_digits(whole, false) && match_digits(fraction, false)
    });
    /// `^(?! )[a-zA-Z0-9. _-]+(?<! )$` (a flavor's `id`).
    pub const FLAVOR_ID: Pattern = Pattern::new("^(?! )[a-zA-Z0-9. _-]+(?<! )$", |s| {
        let text = before_final_newline(s);
        !text.is_empty()
            && !text.starts_with(' ')
            && !text.ends_with(' ')
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b' ' | b'_' | b'-'))
    });
    /// `^[_\- a-zA-Z0-9]+$` (a key pair's `name`).
    pub const KEYPAIR_NAME: Pattern = Pattern::new(r"^[_\- a-zA-Z0-9]+$", |s| {
        let text = before_final_newline(s);
        !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b' '))
    });
    /// `^[a-zA-Z0-9-_:. ]{1,255}$` (metadata keys).
    pub const METADATA_KEY: Pattern = Pattern::new("^[a-zA-Z0-9-_:. ]{1,255}$", |s| {
        let text = before_final_newline(s);
        (1..=255).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.' | b' '))
    });
    /// `^[a-zA-Z0-9-]*$` (`project_id`, `user_id`).
    pub const PROJECT_ID: Pattern = Pattern::new("^[a-zA-Z0-9-]*$", |s| {
        before_final_newline(s)
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    /// Nova's `valid_description_regex`: printable characters of the Basic Multilingual Plane
    /// (spaces included). Its text is generated the way Nova generates it.
    pub const PRINTABLE: Pattern = Pattern {
        source: Source::Printable,
        test: |s| before_final_newline(s).chars().all(nova_printable),
    };

    /// A pattern with its regular expression text and an equivalent predicate.
    pub const fn new(regex: &'static str, test: fn(&str) -> bool) -> Pattern {
        Pattern {
            source: Source::Text(regex),
            test,
        }
    }

    /// Whether `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        (self.test)(text)
    }

    /// The regular expression text, as messages quote it.
    pub fn regex(&self) -> &'static str {
        match self.source {
            Source::Text(text) => text,
            Source::Printable => printable_regex(),
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Source::Text(text) => f.debug_tuple("Pattern").field(&text).finish(),
            Source::Printable => f.write_str("Pattern(<printable>)"),
        }
    }
}

/// A `format` Nova registers a checker for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `uuid`: anything `oslo_utils.uuidutils.is_uuid_like` accepts; non-strings pass.
    Uuid,
    /// `name`: printable, no leading or trailing whitespace. Fails with `InvalidName`.
    Name,
    /// `name_with_leading_trailing_spaces`: printable with at least one non-space character.
    NameWithLeadingTrailingSpaces,
}

/// One schema keyword. A [`Schema`] runs its keywords in order.
#[derive(Debug, Clone, Copy)]
pub enum Keyword {
    /// `type`: one or more allowed types (`['integer', 'string']`).
    Type(&'static [Type]),
    /// `enum`: the allowed values.
    Enum(&'static [Literal]),
    /// `properties`: member name and its schema, checked in this order when present.
    Properties(&'static [(&'static str, Schema)]),
    /// `patternProperties`: members whose name matches get the schema.
    PatternProperties(&'static [(Pattern, Schema)]),
    /// `required`: member names, reported in this order.
    Required(&'static [&'static str]),
    /// `additionalProperties: true|false`.
    AdditionalProperties(bool),
    /// `minProperties`.
    MinProperties(usize),
    /// `maxProperties`.
    MaxProperties(usize),
    /// `items`: every element gets the schema.
    Items(Schema),
    /// `minItems`.
    MinItems(usize),
    /// `maxItems`.
    MaxItems(usize),
    /// `minLength`, in code points.
    MinLength(usize),
    /// `maxLength`, in code points.
    MaxLength(usize),
    /// `pattern`.
    Pattern(Pattern),
    /// `format`.
    Format(Format),
    /// `minimum`, after Nova's number coercion.
    Minimum(Limit),
    /// `maximum`, after Nova's number coercion.
    Maximum(Limit),
    /// `exclusiveMinimum` (a number, as in JSON Schema 2020-12; numbers only, no coercion).
    ExclusiveMinimum(Limit),
    /// `exclusiveMaximum` (a number; numbers only, no coercion).
    ExclusiveMaximum(Limit),
    /// `allOf`: every schema, in order, at the same place.
    AllOf(&'static [Schema]),
}

/// A schema: keywords run in order until one fails.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    keywords: &'static [Keyword],
}

impl Schema {
    /// Accepts anything (`{}`).
    pub const ANY: Schema = Schema::new(&[]);

    /// A schema of these keywords, run in this order.
    pub const fn new(keywords: &'static [Keyword]) -> Schema {
        Schema { keywords }
    }

    /// The keywords, in evaluation order.
    pub const fn keywords(&self) -> &'static [Keyword] {
        self.keywords
    }
}

/// Nova's `nova/api/validation/parameter_types.py`, keyword for keyword and in its order.
pub mod parameter_types {
    use super::{Format, Keyword, Limit, Literal, Pattern, Schema, Type};

    /// The database's `MAX_INT`.
    pub const MAX_INT: i64 = 0x7FFF_FFFF;

    /// `multi_params`: a query parameter that may repeat (`{'type': 'array', 'items': …}`).
    pub const fn multi_params(items: Schema) -> [Keyword; 2] {
        [Keyword::Type(&[Type::Array]), Keyword::Items(items)]
    }

    /// `single_param`: a query parameter given at most once.
    pub const fn single_param(items: Schema) -> [Keyword; 3] {
        [
            Keyword::Type(&[Type::Array]),
            Keyword::Items(items),
            Keyword::MaxItems(1),
        ]
    }

    /// `{'type': 'string'}`.
    pub const STRING: Schema = Schema::new(&[Keyword::Type(&[Type::String])]);

    /// `common_query_param`: any number of strings.
    pub const COMMON_QUERY_PARAM: Schema = Schema::new(&multi_params(STRING));

    /// `boolean`: a JSON boolean or one of Nova's boolean spellings.
    pub const BOOLEAN: Schema = Schema::new(&[
        Keyword::Type(&[Type::Boolean, Type::String]),
        Keyword::Enum(&[
            Literal::Bool(true),
            Literal::Str("True"),
            Literal::Str("TRUE"),
            Literal::Str("true"),
            Literal::Str("1"),
            Literal::Str("ON"),
            Literal::Str("On"),
            Literal::Str("on"),
            Literal::Str("YES"),
            Literal::Str("Yes"),
            Literal::Str("yes"),
            Literal::Bool(false),
            Literal::Str("False"),
            Literal::Str("FALSE"),
            Literal::Str("false"),
            Literal::Str("0"),
            Literal::Str("OFF"),
            Literal::Str("Off"),
            Literal::Str("off"),
            Literal::Str("NO"),
            Literal::Str("No"),
            Literal::Str("no"),
        ]),
    ]);

    /// `positive_integer`: an integer or a digit string, at least 1.
    pub const POSITIVE_INTEGER: Schema = Schema::new(&[
        Keyword::Type(&[Type::Integer, Type::String]),
        Keyword::Pattern(Pattern::DIGITS_OR_EMPTY),
        Keyword::Minimum(Limit::Int(1)),
        Keyword::MinLength(1),
    ]);

    /// `non_negative_integer`: an integer or a digit string, at least 0.
    pub const NON_NEGATIVE_INTEGER: Schema = Schema::new(&[
        Keyword::Type(&[Type::Integer, Type::String]),
        Keyword::Pattern(Pattern::DIGITS_OR_EMPTY),
        Keyword::Minimum(Limit::Int(0)),
        Keyword::MinLength(1),
    ]);

    /// `pagination_parameters['limit']`.
    pub const LIMIT: Schema = Schema::new(&multi_params(NON_NEGATIVE_INTEGER));

    /// `pagination_parameters['marker']`.
    pub const MARKER: Schema = COMMON_QUERY_PARAM;

    /// `name`: 1-255 printable characters, no leading or trailing whitespace.
    pub const NAME: Schema = Schema::new(&[
        Keyword::Type(&[Type::String]),
        Keyword::Format(Format::Name),
        Keyword::MinLength(1),
        Keyword::MaxLength(255),
    ]);

    /// `name_with_leading_trailing_spaces` (the legacy `/v2` flavor and key pair names).
    pub const NAME_WITH_LEADING_TRAILING_SPACES: Schema = Schema::new(&[
        Keyword::Type(&[Type::String]),
        Keyword::Format(Format::NameWithLeadingTrailingSpaces),
        Keyword::MinLength(1),
        Keyword::MaxLength(255),
    ]);

    /// `keypair_name_special_chars`: a `name` that also matches `^[_\- a-zA-Z0-9]+$`.
    pub const KEYPAIR_NAME_SPECIAL_CHARS: Schema = Schema::new(&[Keyword::AllOf(&[
        NAME,
        Schema::new(&[
            Keyword::Type(&[Type::String]),
            Keyword::Pattern(Pattern::KEYPAIR_NAME),
            Keyword::MinLength(1),
            Keyword::MaxLength(255),
        ]),
    ])]);

    /// `description`: up to 255 printable characters, or null.
    pub const DESCRIPTION: Schema = Schema::new(&[
        Keyword::Type(&[Type::String, Type::Null]),
        Keyword::Pattern(Pattern::PRINTABLE),
        Keyword::MinLength(0),
        Keyword::MaxLength(255),
    ]);

    /// `project_id` / `user_id`.
    pub const PROJECT_ID: Schema = Schema::new(&[
        Keyword::Type(&[Type::String]),
        Keyword::Pattern(Pattern::PROJECT_ID),
        Keyword::MinLength(1),
        Keyword::MaxLength(255),
    ]);

    /// `server_id`, `image_id`, `volume_id`, `network_id`: a UUID string.
    pub const UUID: Schema = Schema::new(&[
        Keyword::Type(&[Type::String]),
        Keyword::Format(Format::Uuid),
    ]);

    /// `flavor_ref`: a non-empty string or an integer.
    pub const FLAVOR_REF: Schema = Schema::new(&[
        Keyword::Type(&[Type::String, Type::Integer]),
        Keyword::MinLength(1),
    ]);

    /// `volume_size`: an integer or digit string in 1..=`MAX_INT`.
    pub const VOLUME_SIZE: Schema = Schema::new(&[
        Keyword::Type(&[Type::Integer, Type::String]),
        Keyword::Pattern(Pattern::DIGITS),
        Keyword::Minimum(Limit::Int(1)),
        Keyword::Maximum(Limit::Int(MAX_INT)),
    ]);

    /// `flavor_param_positive` (`ram`, `vcpus`).
    pub const FLAVOR_PARAM_POSITIVE: Schema = VOLUME_SIZE;

    /// `flavor_param_non_negative` (`disk`, ephemeral, `swap`).
    pub const FLAVOR_PARAM_NON_NEGATIVE: Schema = Schema::new(&[
        Keyword::Type(&[Type::Integer, Type::String]),
        Keyword::Pattern(Pattern::DIGITS),
        Keyword::Minimum(Limit::Int(0)),
        Keyword::Maximum(Limit::Int(MAX_INT)),
    ]);

    /// `disk_config`: `AUTO` or `MANUAL`.
    pub const DISK_CONFIG: Schema = Schema::new(&[
        Keyword::Type(&[Type::String]),
        Keyword::Enum(&[Literal::Str("AUTO"), Literal::Str("MANUAL")]),
    ]);

    /// `metadata`: string values up to 255 characters under keys matching
    /// `^[a-zA-Z0-9-_:. ]{1,255}$`, nothing else.
    pub const METADATA: Schema = Schema::new(&[
        Keyword::Type(&[Type::Object]),
        Keyword::PatternProperties(&[(
            Pattern::METADATA_KEY,
            Schema::new(&[Keyword::Type(&[Type::String]), Keyword::MaxLength(255)]),
        )]),
        Keyword::AdditionalProperties(false),
    ]);
}

/// A request body schema of Nova's usual shape: an object whose only (and required) member
/// `$key` is an object with the given members and no others; `required: [...]` lists the
/// inner members that must be present.
///
/// `wrapped_schema!("keypair", required: ["name"], ("name", NAME), ("public_key", KEY))`
#[macro_export]
macro_rules! wrapped_schema {
    ($key:literal, required: [$($required:literal),+], $($member:expr),+ $(,)?) => {
        $crate::api::validation::Schema::new(&[
            $crate::api::validation::Keyword::Type(&[$crate::api::validation::Type::Object]),
            $crate::api::validation::Keyword::Properties(&[(
                $key,
                $crate::api::validation::Schema::new(&[
                    $crate::api::validation::Keyword::Type(&[$crate::api::validation::Type::Object]),
                    $crate::api::validation::Keyword::Properties(&[$($member),+]),
                    $crate::api::validation::Keyword::Required(&[$($required),+]),
                    $crate::api::validation::Keyword::AdditionalProperties(false),
                ]),
            )]),
            $crate::api::validation::Keyword::Required(&[$key]),
            $crate::api::validation::Keyword::AdditionalProperties(false),
        ])
    };
    ($key:literal, $($member:expr),+ $(,)?) => {
        $crate::api::validation::Schema::new(&[
            $crate::api::validation::Keyword::Type(&[$crate::api::validation::Type::Object]),
            $crate::api::validation::Keyword::Properties(&[(
                $key,
                $crate::api::validation::Schema::new(&[
                    $crate::api::validation::Keyword::Type(&[$crate::api::validation::Type::Object]),
                    $crate::api::validation::Keyword::Properties(&[$($member),+]),
                    $crate::api::validation::Keyword::AdditionalProperties(false),
                ]),
            )]),
            $crate::api::validation::Keyword::Required(&[$key]),
            $crate::api::validation::Keyword::AdditionalProperties(false),
        ])
    };
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Validates a request body. `legacy_v2` selects Nova's relaxed mode for the `/v2` wrapper
/// (unknown members ignored). For an absent body pass a JSON `null`, as Nova validates `None`.
pub fn validate_body(
    schema: &Schema,
    value: &BorrowedValue<'_>,
    legacy_v2: bool,
) -> Result<(), Fault> {
    let validator = Validator { relaxed: legacy_v2 };
    validator
        .check(schema, Node::Json(value), None)
        .map_err(|failure| failure.into_fault(false))
}

/// Validates query parameters given as decoded `(name, value)` pairs in request order. Like
/// Nova (`dict_of_lists`) every name maps to the list of its values, so per-parameter schemas
/// are arrays (see [`parameter_types::multi_params`]). `legacy_v2` selects relaxed mode.
pub fn validate_query<K: AsRef<str>, V: AsRef<str>>(
    schema: &Schema,
    params: &[(K, V)],
    legacy_v2: bool,
) -> Result<(), Fault> {
    let validator = Validator { relaxed: legacy_v2 };
    let pairs = PairSlice(params);
    validator
        .check(schema, Node::Query(&pairs), None)
        .map_err(|failure| failure.into_fault(true))
}

// ---------------------------------------------------------------------------------------------
// Instances: borrowed views of a JSON value or of the query pairs
// ---------------------------------------------------------------------------------------------

/// The query pairs, seen without copying.
trait Pairs {
    fn count(&self) -> usize;
    fn pair(&self, index: usize) -> (&str, &str);
}

struct PairSlice<'a, K, V>(&'a [(K, V)]);

impl<K: AsRef<str>, V: AsRef<str>> Pairs for PairSlice<'_, K, V> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn pair(&self, index: usize) -> (&str, &str) {
        self.0
            .get(index)
            .map_or(("", ""), |(name, value)| (name.as_ref(), value.as_ref()))
    }
}

/// The instance being validated.
#[derive(Clone, Copy)]
enum Node<'v> {
    /// Part of a JSON body.
    Json(&'v BorrowedValue<'v>),
    /// The query as a dict of lists.
    Query(&'v dyn Pairs),
    /// The list of values of one query parameter.
    Param(&'v dyn Pairs, &'v str),
    /// One query value.
    Str(&'v str),
}

/// What an instance is, in Python's terms.
#[derive(Clone, Copy)]
enum Kind<'v> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'v str),
    Array,
    Object,
}

impl<'v> Node<'v> {
    fn kind(self) -> Kind<'v> {
        match self {
            Node::Json(value) => json_kind(value),
            Node::Query(_) => Kind::Object,
            Node::Param(..) => Kind::Array,
            Node::Str(text) => Kind::Str(text),
        }
    }

    fn is_type(self, wanted: Type) -> bool {
        match (wanted, self.kind()) {
            (Type::String, Kind::Str(_))
            | (Type::Integer | Type::Number, Kind::Int(_))
            | (Type::Number, Kind::Float(_))
            | (Type::Boolean, Kind::Bool(_))
            | (Type::Object, Kind::Object)
            | (Type::Array, Kind::Array)
            | (Type::Null, Kind::Null) => true,
            (Type::Integer, Kind::Float(f)) => f.is_finite() && f.fract() == 0.0,
            _ => false,
        }
    }

    /// The member `key` of an object; with repeated keys the last one wins, as in Python.
    fn get(self, key: &str) -> Option<Node<'v>> {
        match self {
            Node::Json(value) => {
                let object = value.as_object()?;
                if object.len() > SMALL_OBJECT {
                    object.get(key).map(Node::Json)
                } else {
                    object
                        .iter()
                        .filter(|(name, _)| name.as_ref() == key)
                        .last()
                        .map(|(_, member)| Node::Json(member))
                }
            }
            Node::Query(pairs) => (0..pairs.count())
                .map(|index| pairs.pair(index).0)
                .find(|name| *name == key)
                .map(|name| Node::Param(pairs, name)),
            Node::Param(..) | Node::Str(_) => None,
        }
    }

    /// Calls `f` for every member of an object in Python's dict order: each key once, where it
    /// first appeared, with its last value.
    fn try_entries<E>(
        self,
        mut f: impl FnMut(&'v str, Node<'v>) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Node::Json(value) => {
                let Some(object) = value.as_object() else {
                    return Ok(());
                };
                for (index, (key, member)) in object.iter().enumerate() {
                    let member = if object.len() > SMALL_OBJECT {
                        member
                    } else {
                        if repeated_before(object, index, key) {
                            continue;
                        }
                        object
                            .iter()
                            .skip(index + 1)
                            .filter(|(later, _)| *later == key)
                            .last()
                            .map_or(member, |(_, later)| later)
                    };
                    f(key.as_ref(), Node::Json(member))?;
                }
                Ok(())
            }
            Node::Query(pairs) => {
                for index in 0..pairs.count() {
                    let name = pairs.pair(index).0;
                    if !(0..index).any(|earlier| pairs.pair(earlier).0 == name) {
                        f(name, Node::Param(pairs, name))?;
                    }
                }
                Ok(())
            }
            Node::Param(..) | Node::Str(_) => Ok(()),
        }
    }

    /// Whether `f` holds for any member name of an object (repeats included, no dedup cost).
    fn any_key(self, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Node::Json(value) => value
                .as_object()
                .is_some_and(|object| object.iter().any(|(key, _)| f(key))),
            Node::Query(pairs) => (0..pairs.count()).any(|index| f(pairs.pair(index).0)),
            Node::Param(..) | Node::Str(_) => false,
        }
    }

    /// The number of distinct members of an object.
    fn member_count(self) -> usize {
        let mut count = 0;
        let _ = self.try_entries(|_, _| {
            count += 1;
            Ok::<(), ()>(())
        });
        count
    }

    /// Calls `f` for every element of an array, with its index.
    fn try_items<E>(self, mut f: impl FnMut(usize, Node<'v>) -> Result<(), E>) -> Result<(), E> {
        match self {
            Node::Json(value) => {
                for (index, item) in value.as_array().into_iter().flatten().enumerate() {
                    f(index, Node::Json(item))?;
                }
                Ok(())
            }
            Node::Param(pairs, name) => {
                let values = (0..pairs.count())
                    .map(|index| pairs.pair(index))
                    .filter(|(key, _)| *key == name);
                for (index, (_, value)) in values.enumerate() {
                    f(index, Node::Str(value))?;
                }
                Ok(())
            }
            Node::Query(_) | Node::Str(_) => Ok(()),
        }
    }

    fn item_count(self) -> usize {
        match self {
            Node::Json(value) => value.as_array().map_or(0, Vec::len),
            Node::Param(pairs, name) => (0..pairs.count())
                .filter(|&index| pairs.pair(index).0 == name)
                .count(),
            Node::Query(_) | Node::Str(_) => 0,
        }
    }
}

fn json_kind<'v>(value: &'v BorrowedValue<'v>) -> Kind<'v> {
    if let Some(text) = value.as_str() {
        Kind::Str(text)
    } else if let Some(flag) = value.as_bool() {
        Kind::Bool(flag)
    } else if value.is_null() {
        Kind::Null
    } else if let Some(int) = value.as_i128() {
        Kind::Int(int)
    } else if let Some(int) = value.as_u128() {
        // Only reachable with simd-json's `128bit` feature, which this crate does not enable.
        Kind::Int(i128::try_from(int).unwrap_or(i128::MAX))
    } else if let Some(float) = value.as_f64() {
        Kind::Float(float)
    } else if value.is_array() {
        Kind::Array
    } else {
        Kind::Object
    }
}

fn repeated_before(object: &Object<'_>, index: usize, key: &str) -> bool {
    object
        .iter()
        .take(index)
        .any(|(earlier, _)| earlier.as_ref() == key)
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// One step of the path from the root to the instance.
#[derive(Clone, Copy)]
enum Elem<'v> {
    Key(&'v str),
    Index(usize),
}

/// The path to the instance, as a list linked through the stack.
struct Path<'p, 'v> {
    parent: Option<&'p Path<'p, 'v>>,
    elem: Elem<'v>,
}

/// What went wrong, before it is worded as Nova words it.
struct Failure<'v> {
    /// The first path element (the query parameter).
    head: Option<Elem<'v>>,
    /// The last path element (the body field).
    tail: Option<Elem<'v>>,
    instance: Node<'v>,
    detail: Detail,
}

enum Detail {
    /// A `jsonschema` message, prefixed with field and value unless at the root.
    Schema(String),
    /// A message Nova sends as is (`InvalidName`).
    Bare(&'static str),
}

impl Failure<'_> {
    fn new<'v>(instance: Node<'v>, path: Option<&Path<'_, 'v>>, detail: Detail) -> Failure<'v> {
        let tail = path.map(|step| step.elem);
        let mut head = tail;
        let mut step = path;
        while let Some(current) = step {
            head = Some(current.elem);
            step = current.parent;
        }
        Failure {
            head,
            tail,
            instance,
            detail,
        }
    }

    fn into_fault(self, query: bool) -> Fault {
        let message = match self.detail {
            Detail::Bare(text) => return Fault::new(400, text),
            Detail::Schema(message) => message,
        };
        let (elem, prefix) = if query {
            (self.head, "Invalid input for query parameters ")
        } else {
            (self.tail, "Invalid input for field/attribute ")
        };
        let Some(elem) = elem else {
            return Fault::with_message(400, message);
        };
        let mut out = String::with_capacity(prefix.len() + message.len() + 64);
        out.push_str(prefix);
        match elem {
            Elem::Key(key) => out.push_str(key),
            Elem::Index(index) => push_display(&mut out, index),
        }
        out.push_str(". Value: ");
        push_str_of(&mut out, self.instance, 0);
        out.push_str(". ");
        out.push_str(&message);
        Fault::with_message(400, out)
    }
}

/// Runs schemas. `relaxed` is Nova's legacy-v2 `additionalProperties`.
struct Validator {
    relaxed: bool,
}

impl Validator {
    fn check<'v>(
        &self,
        schema: &Schema,
        node: Node<'v>,
        path: Option<&Path<'_, 'v>>,
    ) -> Result<(), Failure<'v>> {
        for keyword in schema.keywords {
            self.keyword(schema, keyword, node, path)?;
        }
        Ok(())
    }

    fn descend<'v>(
        &self,
        schema: &Schema,
        node: Node<'v>,
        path: Option<&Path<'_, 'v>>,
        elem: Elem<'v>,
    ) -> Result<(), Failure<'v>> {
        let step = Path { parent: path, elem };
        self.check(schema, node, Some(&step))
    }

    fn keyword<'v>(
        &self,
        schema: &Schema,
        keyword: &Keyword,
        node: Node<'v>,
        path: Option<&Path<'_, 'v>>,
    ) -> Result<(), Failure<'v>> {
        let fail = |message: String| Err(Failure::new(node, path, Detail::Schema(message)));
        match *keyword {
            Keyword::Type(types) => {
                if !types.iter().any(|&wanted| node.is_type(wanted)) {
                    let mut message = repr(node);
                    message.push_str(" is not of type ");
                    for (index, wanted) in types.iter().enumerate() {
                        if index > 0 {
                            message.push_str(", ");
                        }
                        message.push('\'');
                        message.push_str(wanted.name());
                        message.push('\'');
                    }
                    return fail(message);
                }
            }
            Keyword::Enum(allowed) => {
                if !allowed.iter().any(|literal| equals_literal(node, *literal)) {
                    let mut message = repr(node);
                    message.push_str(" is not one of [");
                    for (index, literal) in allowed.iter().enumerate() {
                        if index > 0 {
                            message.push_str(", ");
                        }
                        push_literal(&mut message, *literal);
                    }
                    message.push(']');
                    return fail(message);
                }
            }
            Keyword::Properties(properties) => {
                if node.is_type(Type::Object) {
                    for (name, sub) in properties {
                        if let Some(member) = node.get(name) {
                            self.descend(sub, member, path, Elem::Key(name))?;
                        }
                    }
                }
            }
            Keyword::PatternProperties(patterns) => {
                for (pattern, sub) in patterns {
                    node.try_entries(|key, member| {
                        if pattern.is_match(key) {
                            self.descend(sub, member, path, Elem::Key(key))
                        } else {
                            Ok(())
                        }
                    })?;
                }
            }
            Keyword::Required(required) => {
                if node.is_type(Type::Object) {
                    for name in required {
                        if node.get(name).is_none() {
                            let mut message = String::new();
                            push_quoted(&mut message, name);
                            message.push_str(" is a required property");
                            return fail(message);
                        }
                    }
                }
            }
            Keyword::AdditionalProperties(allowed) => {
                if !allowed && node.is_type(Type::Object) {
                    if let Some(message) = self.additional(schema, node) {
                        return fail(message);
                    }
                }
            }
            Keyword::MinProperties(min) => {
                if node.is_type(Type::Object) && node.member_count() < min {
                    let text = if min == 1 {
                        "should be non-empty"
                    } else {
                        "does not have enough properties"
                    };
                    return fail(described(node, text));
                }
            }
            Keyword::MaxProperties(max) => {
                if node.is_type(Type::Object) && node.member_count() > max {
                    let text = if max == 0 {
                        "is expected to be empty"
                    } else {
                        "has too many properties"
                    };
                    return fail(described(node, text));
                }
            }
            Keyword::Items(sub) => {
                node.try_items(|index, item| self.descend(&sub, item, path, Elem::Index(index)))?;
            }
            Keyword::MinItems(min) => {
                if node.is_type(Type::Array) && node.item_count() < min {
                    let text = if min == 1 {
                        "should be non-empty"
                    } else {
                        "is too short"
                    };
                    return fail(described(node, text));
                }
            }
            Keyword::MaxItems(max) => {
                if node.is_type(Type::Array) && node.item_count() > max {
                    let text = if max == 0 {
                        "is expected to be empty"
                    } else {
                        "is too long"
                    };
                    return fail(described(node, text));
                }
            }
            Keyword::MinLength(min) => {
                if let Kind::Str(text) = node.kind() {
                    if text.chars().count() < min {
                        let text = if min == 1 {
                            "should be non-empty"
                        } else {
                            "is too short"
                        };
                        return fail(described(node, text));
                    }
                }
            }
            Keyword::MaxLength(max) => {
                if let Kind::Str(text) = node.kind() {
                    if text.chars().count() > max {
                        let text = if max == 0 {
                            "is expected to be empty"
                        } else {
                            "is too long"
                        };
                        return fail(described(node, text));
                    }
                }
            }
            Keyword::Pattern(pattern) => {
                if let Kind::Str(text) = node.kind() {
                    if !pattern.is_match(text) {
                        let mut message = repr(node);
                        message.push_str(" does not match ");
                        push_quoted(&mut message, pattern.regex());
                        return fail(message);
                    }
                }
            }
            Keyword::Format(format) => {
                let text = match node.kind() {
                    Kind::Str(text) => Some(text),
                    _ => None,
                };
                match format {
                    Format::Uuid => {
                        if text.is_some_and(|text| !is_uuid_like(text)) {
                            return fail(described(node, "is not a 'uuid'"));
                        }
                    }
                    Format::Name => {
                        if !text.is_some_and(valid_name) {
                            return Err(Failure::new(node, path, Detail::Bare(INVALID_NAME)));
                        }
                    }
                    Format::NameWithLeadingTrailingSpaces => {
                        if !text.is_some_and(valid_name_with_spaces) {
                            let detail = Detail::Bare(INVALID_NAME_SPACES);
                            return Err(Failure::new(node, path, detail));
                        }
                    }
                }
            }
            Keyword::Minimum(limit) => {
                if let Some(number) = coerce(node) {
                    if compare(&number, limit) == Some(Ordering::Less) {
                        return fail(bound(&number, "is less than the minimum of", limit));
                    }
                }
            }
            Keyword::Maximum(limit) => {
                if let Some(number) = coerce(node) {
                    if compare(&number, limit) == Some(Ordering::Greater) {
                        return fail(bound(&number, "is greater than the maximum of", limit));
                    }
                }
            }
            Keyword::ExclusiveMinimum(limit) => {
                if let Some(number) = json_number(node) {
                    if matches!(
                        compare(&number, limit),
                        Some(Ordering::Less | Ordering::Equal)
                    ) {
                        let text = "is less than or equal to the minimum of";
                        return fail(bound(&number, text, limit));
                    }
                }
            }
            Keyword::ExclusiveMaximum(limit) => {
                if let Some(number) = json_number(node) {
                    let ordering = compare(&number, limit);
                    if matches!(ordering, Some(Ordering::Greater | Ordering::Equal)) {
                        let text = "is greater than or equal to the maximum of";
                        return fail(bound(&number, text, limit));
                    }
                }
            }
            Keyword::AllOf(schemas) => {
                for sub in schemas {
                    self.check(sub, node, path)?;
                }
            }
        }
        Ok(())
    }

    /// `additionalProperties: false` for an object: the message, if any member is unexpected.
    fn additional(&self, schema: &Schema, node: Node<'_>) -> Option<String> {
        let mut properties: &[(&str, Schema)] = &[];
        let mut patterns: &[(Pattern, Schema)] = &[];
        for keyword in schema.keywords {
            match keyword {
                Keyword::Properties(list) => properties = list,
                Keyword::PatternProperties(list) => patterns = list,
                _ => {}
            }
        }
        let is_extra = |key: &str| {
            !properties.iter().any(|(name, _)| *name == key)
                && !patterns.iter().any(|(pattern, _)| pattern.is_match(key))
        };
        if !node.any_key(is_extra) {
            return None;
        }
        if self.relaxed {
            // Nova strips unknown members, leaves an object whose every member is unknown
            // alone, and only reports them when the object has patternProperties.
            if patterns.is_empty() || !node.any_key(|key| !is_extra(key)) {
                return None;
            }
        }
        let mut extras = Vec::new();
        let _ = node.try_entries(|key, _| {
            if is_extra(key) {
                extras.push(key);
            }
            Ok::<(), ()>(())
        });
        extras.sort_unstable();
        let mut message = String::new();
        if patterns.is_empty() || self.relaxed {
            message.push_str("Additional properties are not allowed (");
            push_quoted_list(&mut message, extras.iter().copied());
            message.push_str(if extras.len() == 1 {
                " was unexpected)"
            } else {
                " were unexpected)"
            });
        } else {
            push_quoted_list(&mut message, extras.iter().copied());
            message.push_str(if extras.len() == 1 {
                " does not match any of the regexes: "
            } else {
                " do not match any of the regexes: "
            });
            let mut regexes: Vec<&str> = patterns
                .iter()
                .map(|(pattern, _)| pattern.regex())
                .collect();
            regexes.sort_unstable();
            push_quoted_list(&mut message, regexes.into_iter());
        }
        Some(message)
    }
}

fn equals_literal(node: Node<'_>, literal: Literal) -> bool {
    match (literal, node.kind()) {
        (Literal::Str(wanted), Kind::Str(text)) => wanted == text,
        (Literal::Bool(wanted), Kind::Bool(flag)) => wanted == flag,
        (Literal::Int(wanted), Kind::Int(int)) => i128::from(wanted) == int,
        (Literal::Int(wanted), Kind::Float(float)) => {
            compare_int_float(i128::from(wanted), float) == Some(Ordering::Equal)
        }
        (Literal::Null, Kind::Null) => true,
        _ => false,
    }
}

/// `<repr> <text>`, the shape of most `jsonschema` messages.
fn described(node: Node<'_>, text: &str) -> String {
    let mut message = repr(node);
    message.push(' ');
    message.push_str(text);
    message
}

/// `<number> <text> <limit>`.
fn bound(number: &Number, text: &str, limit: Limit) -> String {
    let mut message = String::new();
    number.push_repr(&mut message);
    message.push(' ');
    message.push_str(text);
    message.push(' ');
    match limit {
        Limit::Int(int) => push_display(&mut message, int),
        Limit::Float(float) => push_float(&mut message, float),
    }
    message
}

// ---------------------------------------------------------------------------------------------
// Numbers: Nova's coercion and Python's exact int/float comparisons
// ---------------------------------------------------------------------------------------------

/// A number as Python holds it.
#[derive(Debug, Clone, PartialEq)]
enum Number {
    Int(i128),
    /// An integer beyond `i128` (at least 2^127 in magnitude): sign and decimal digits.
    Big {
        negative: bool,
        digits: String,
    },
    Float(f64),
}

impl Number {
    fn push_repr(&self, out: &mut String) {
        match self {
            Number::Int(int) => push_display(out, int),
            Number::Big { negative, digits } => {
                if *negative {
                    out.push('-');
                }
                out.push_str(digits);
            }
            Number::Float(float) => push_float(out, *float),
        }
    }

    /// Python's `int(x)` of a float: truncation, exact.
    fn truncate(float: f64) -> Number {
        if float.is_nan() || float.is_infinite() {
            // int() raises for these; a JSON body cannot carry them.
            return Number::Float(float);
        }
        let whole = float.trunc();
        if whole.abs() < TWO_POW_127 {
            // In range and integral, so the conversion is exact.
            Number::Int(whole as i128)
        } else {
            Number::Big {
                negative: whole < 0.0,
                digits: integral_digits(whole),
            }
        }
    }
}

/// 2^127, the first magnitude `i128` cannot hold.
const TWO_POW_127: f64 = (1u128 << 127) as f64;

/// A JSON number as is (booleans are not numbers).
fn json_number(node: Node<'_>) -> Option<Number> {
    match node.kind() {
        Kind::Int(int) => Some(Number::Int(int)),
        Kind::Float(float) => Some(Number::Float(float)),
        _ => None,
    }
}

/// Nova's `_number_from_str`: `int(x)`, else `float(x)`, else no number.
fn coerce(node: Node<'_>) -> Option<Number> {
    match node.kind() {
        Kind::Bool(flag) => Some(Number::Int(i128::from(flag))),
        Kind::Int(int) => Some(Number::Int(int)),
        Kind::Float(float) => Some(Number::truncate(float)),
        Kind::Str(text) => py_int(text).or_else(|| py_float(text).map(Number::Float)),
        Kind::Null | Kind::Array | Kind::Object => None,
    }
}

/// The characters Python's `str.strip()` removes.
fn py_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

/// ASCII digits with single underscores between them, at least one digit.
fn digit_groups(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('_')
        && !text.ends_with('_')
        && !text.contains("__")
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// Python's `int(text)` for ASCII input.
fn py_int(text: &str) -> Option<Number> {
    let text = py_strip(text);
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if !digit_groups(body) {
        return None;
    }
    let digits = body.bytes().filter(u8::is_ascii_digit);
    if digits.clone().count() > MAX_INT_DIGITS {
        return None;
    }
    let mut value: i128 = 0;
    for digit in digits {
        let next = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(digit - b'0')));
        match next {
            Some(next) => value = next,
            None => {
                let digits: String = body
                    .chars()
                    .filter(char::is_ascii_digit)
                    .skip_while(|&c| c == '0')
                    .collect();
                return Some(Number::Big { negative, digits });
            }
        }
    }
    Some(Number::Int(if negative { -value } else { value }))
}

/// Python's `float(text)` for ASCII input.
fn py_float(text: &str) -> Option<f64> {
    let text = py_strip(text);
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let word = ["inf", "infinity", "nan"]
        .iter()
        .any(|word| unsigned.eq_ignore_ascii_case(word));
    if word {
        return text.parse().ok();
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digit_groups(fraction),
        Some((whole, "")) => digit_groups(whole),
        Some((whole, fraction)) => digit_groups(whole) && digit_groups(fraction),
        None => digit_groups(mantissa),
    };
    let exponent_ok = exponent
        .is_none_or(|exponent| digit_groups(exponent.strip_prefix(['+', '-']).unwrap_or(exponent)));
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    if text.contains('_') {
        text.replace('_', "").parse().ok()
    } else {
        text.parse().ok()
    }
}

/// Python's comparison of a number with a bound; `None` when unordered (NaN).
fn compare(number: &Number, limit: Limit) -> Option<Ordering> {
    match (number, limit) {
        (Number::Int(int), Limit::Int(bound)) => Some(int.cmp(&i128::from(bound))),
        (Number::Int(int), Limit::Float(bound)) => compare_int_float(*int, bound),
        (Number::Float(float), Limit::Int(bound)) => {
            compare_int_float(i128::from(bound), *float).map(Ordering::reverse)
        }
        (Number::Float(float), Limit::Float(bound)) => float.partial_cmp(&bound),
        (Number::Big { negative, .. }, Limit::Int(_)) => Some(sign_order(*negative)),
        (Number::Big { negative, digits }, Limit::Float(bound)) => {
            if bound.is_nan() {
                None
            } else if bound.abs() < TWO_POW_127 {
                Some(sign_order(*negative))
            } else if bound.is_infinite() {
                Some(if bound > 0.0 {
                    Ordering::Less
                } else {
                    Ordering::Greater
                })
            } else {
                let bound_negative = bound < 0.0;
                if *negative != bound_negative {
                    return Some(sign_order(*negative));
                }
                let bound_digits = integral_digits(bound);
                let magnitude = digits
                    .len()
                    .cmp(&bound_digits.len())
                    .then_with(|| digits.as_str().cmp(&bound_digits));
                Some(if *negative {
                    magnitude.reverse()
                } else {
                    magnitude
                })
            }
        }
    }
}

/// A number beyond every `i64` compares by its sign alone.
fn sign_order(negative: bool) -> Ordering {
    if negative {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

/// Exact comparison of an integer with a float, as Python does it.
fn compare_int_float(int: i128, float: f64) -> Option<Ordering> {
    if float.is_nan() {
        return None;
    }
    if float >= TWO_POW_127 {
        return Some(Ordering::Less);
    }
    if float < -TWO_POW_127 {
        return Some(Ordering::Greater);
    }
    let whole = float.trunc();
    // |whole| <= 2^127 and integral: exact.
    Some(match int.cmp(&(whole as i128)) {
        Ordering::Equal if float > whole => Ordering::Less,
        Ordering::Equal if float < whole => Ordering::Greater,
        other => other,
    })
}

/// The decimal digits of the magnitude of an integral, finite float.
fn integral_digits(float: f64) -> String {
    let bits = float.abs().to_bits();
    let exponent = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let fraction = bits & ((1 << 52) - 1);
    let (mut mantissa, mut shift) = if exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exponent - 1075)
    };
    while shift < 0 && mantissa > 0 {
        mantissa >>= 1;
        shift += 1;
    }
    // Little-endian limbs of nine decimal digits.
    const BASE: u64 = 1_000_000_000;
    let mut limbs = vec![
        mantissa % BASE,
        (mantissa / BASE) % BASE,
        mantissa / (BASE * BASE),
    ];
    for _ in 0..shift.max(0) {
        let mut carry = 0;
        for limb in &mut limbs {
            let doubled = *limb * 2 + carry;
            *limb = doubled % BASE;
            carry = doubled / BASE;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut out = String::with_capacity(limbs.len() * 9);
    for (index, limb) in limbs.iter().rev().enumerate() {
        if index == 0 {
            push_display(&mut out, limb);
        } else {
            let _ = write!(out, "{limb:09}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Rendering: Python's str() and repr()
// ---------------------------------------------------------------------------------------------

fn push_display(out: &mut String, value: impl fmt::Display) {
    let _ = write!(out, "{value}");
}

fn repr(node: Node<'_>) -> String {
    let mut out = String::new();
    push_repr(&mut out, node, 0);
    out
}

/// Python's `str()`: strings bare, everything else as `repr()`.
fn push_str_of(out: &mut String, node: Node<'_>, depth: usize) {
    match node.kind() {
        Kind::Str(text) => out.push_str(text),
        _ => push_repr(out, node, depth),
    }
}

/// Python's `repr()` of a decoded JSON value.
fn push_repr(out: &mut String, node: Node<'_>, depth: usize) {
    match node.kind() {
        Kind::Null => out.push_str("None"),
        Kind::Bool(true) => out.push_str("True"),
        Kind::Bool(false) => out.push_str("False"),
        Kind::Int(int) => push_display(out, int),
        Kind::Float(float) => push_float(out, float),
        Kind::Str(text) => push_quoted(out, text),
        Kind::Array if depth >= MAX_RENDER_DEPTH => out.push_str("[...]"),
        Kind::Array => {
            out.push('[');
            let _ = node.try_items(|index, item| {
                if index > 0 {
                    out.push_str(", ");
                }
                push_repr(out, item, depth + 1);
                Ok::<(), ()>(())
            });
            out.push(']');
        }
        Kind::Object if depth >= MAX_RENDER_DEPTH => out.push_str("{...}"),
        Kind::Object => {
            out.push('{');
            let mut first = true;
            let _ = node.try_entries(|key, member| {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                push_quoted(out, key);
                out.push_str(": ");
                push_repr(out, member, depth + 1);
                Ok::<(), ()>(())
            });
            out.push('}');
        }
    }
}

/// `'a', 'b'`.
fn push_quoted_list<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        push_quoted(out, item);
    }
}

fn push_literal(out: &mut String, literal: Literal) {
    match literal {
        Literal::Str(text) => push_quoted(out, text),
        Literal::Bool(true) => out.push_str("True"),
        Literal::Bool(false) => out.push_str("False"),
        Literal::Int(int) => push_display(out, int),
        Literal::Null => out.push_str("None"),
    }
}

/// Python's `repr()` of a string: single quotes unless the text has `'` and no `"`, escapes
/// for the quote, backslash, `\t\n\r`, other controls and non-printable characters.
fn push_quoted(out: &mut String, text: &str) {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let code = u32::from(c);
                let _ = if code <= 0xff {
                    write!(out, "\\x{code:02x}")
                } else if code <= 0xffff {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
        }
    }
    out.push(quote);
}

/// Python's `repr()` of a float: the shortest digits that round-trip, positional for
/// 1e-4 <= |x| < 1e16 (with `.0` when integral), else `d.ddde±XX`.
fn push_float(out: &mut String, float: f64) {
    if float.is_nan() {
        out.push_str("nan");
        return;
    }
    if float.is_infinite() {
        out.push_str(if float > 0.0 { "inf" } else { "-inf" });
        return;
    }
    let scientific = format!("{float:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if mantissa.starts_with('-') {
        out.push('-');
    }
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1;
    if !(-4 < point && point <= 16) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let point = point.unsigned_abs() as usize;
        if point >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
            out.push_str(".0");
        } else {
            let (whole, fraction) = digits.split_at(point);
            out.push_str(whole);
            out.push('.');
            out.push_str(fraction);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Patterns and formats
// ---------------------------------------------------------------------------------------------

/// The text Python's `$` sees: it also matches just before one final newline.
fn before_final_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

/// `^[0-9]+$`, or `^[0-9]*$` when `empty_ok`.
fn match_digits(text: &str, empty_ok: bool) -> bool {
    let text = before_final_newline(text);
    (empty_ok || !text.is_empty()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// `oslo_utils.uuidutils.is_uuid_like`: after dropping `urn:`, `uuid:`, surrounding braces
/// and every `-`, exactly 32 hex digits.
fn is_uuid_like(text: &str) -> bool {
    let hex_32 = |chars: &mut dyn Iterator<Item = char>| {
        let mut count = 0;
        for c in chars {
            if c == '-' {
                continue;
            }
            if !c.is_ascii_hexdigit() {
                return false;
            }
            count += 1;
        }
        count == 32
    };
    if !text.contains([':', '{', '}']) {
        return hex_32(&mut text.chars());
    }
    let stripped = text.replace("urn:", "").replace("uuid:", "");
    hex_32(&mut stripped.trim_matches(['{', '}']).chars())
}

/// Nova's `valid_name_regex`: `^(?![N])[P]*(?<![N])$` where P is every printable BMP
/// character and N every BMP character that is not printable or is a space.
fn valid_name(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return true;
    };
    let body = before_final_newline(text);
    !space_or_unprintable(first)
        && body.chars().all(nova_printable)
        && body
            .chars()
            .last()
            .is_some_and(|c| !space_or_unprintable(c))
}

/// Nova's `valid_name_leading_trailing_spaces_regex`: printable BMP characters, at least one
/// of them not a space.
fn valid_name_with_spaces(text: &str) -> bool {
    let body = before_final_newline(text);
    body.chars().all(nova_printable) && body.chars().any(|c| !space_or_unprintable(c))
}

/// Nova's "printable": a character of the BMP below U+FFFF that is not a control, format,
/// surrogate, private-use or unassigned character, nor a line or paragraph separator.
fn nova_printable(c: char) -> bool {
    u32::from(c) < 0xFFFF && (is_printable(c) || is_space_separator(c))
}

/// Nova's whitespace-or-unprintable class (`ws=False, invert=True`), BMP below U+FFFF only.
fn space_or_unprintable(c: char) -> bool {
    u32::from(c) < 0xFFFF && (!is_printable(c) || is_space_separator(c))
}

/// Unicode category Zs.
fn is_space_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// Python's `str.isprintable()` for one character.
fn is_printable(c: char) -> bool {
    let code = u32::from(c);
    if code < 0x7f {
        return code >= 0x20;
    }
    let index = PRINTABLE_RANGES.partition_point(|&(_, end)| end < code);
    PRINTABLE_RANGES
        .get(index)
        .is_some_and(|&(start, _)| start <= code)
}

/// Nova's `valid_description_regex` text, `^[…]*$` with every run of printable BMP characters
/// written `first-last` and `re.escape`d, built once on first use.
fn printable_regex() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut out = String::from("^[");
        let mut run: Option<(char, char)> = None;
        let chars = (0..0xFFFF).map(|code| char::from_u32(code).filter(|&c| nova_printable(c)));
        for c in chars.chain(std::iter::once(None)) {
            match (c, run) {
                (Some(c), None) => run = Some((c, c)),
                (Some(c), Some((first, _))) => run = Some((first, c)),
                (None, Some((first, last))) => {
                    push_escaped(&mut out, first);
                    if last != first {
                        out.push('-');
                        push_escaped(&mut out, last);
                    }
                    run = None;
                }
                (None, None) => {}
            }
        }
        out.push_str("]*$");
        out
    })
}

/// Python's `re.escape` of one character.
fn push_escaped(out: &mut String, c: char) {
    if "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// Inclusive ranges of the characters Python's `str.isprintable()` accepts (Unicode 14.0):
/// everything but categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than U+0020.
#[rustfmt::skip]
const PRINTABLE_RANGES: &[(u32, u32)] = &[
    (0x20, 0x7e), (0xa1, 0xac), (0xae, 0x377), (0x37a, 0x37f), (0x384, 0x38a), (0x38c, 0x38c),
    (0x38e, 0x3a1), (0x3a3, 0x52f), (0x531, 0x556), (0x559, 0x58a), (0x58d, 0x58f), (0x591, 0x5c7),
    (0x5d0, 0x5ea), (0x5ef, 0x5f4), (0x606, 0x61b), (0x61d, 0x6dc), (0x6de, 0x70d), (0x710, 0x74a),
    (0x74d, 0x7b1), (0x7c0, 0x7fa), (0x7fd, 0x82d), (0x830, 0x83e), (0x840, 0x85b), (0x85e, 0x85e),
    (0x860, 0x86a), (0x870, 0x88e), (0x898, 0x8e1), (0x8e3, 0x983), (0x985, 0x98c), (0x98f, 0x990),
    (0x993, 0x9a8), (0x9aa, 0x9b0), (0x9b2, 0x9b2), (0x9b6, 0x9b9), (0x9bc, 0x9c4), (0x9c7, 0x9c8),
    (0x9cb, 0x9ce), (0x9d7, 0x9d7), (0x9dc, 0x9dd), (0x9df, 0x9e3), (0x9e6, 0x9fe), (0xa01, 0xa03),
    (0xa05, 0xa0a), (0xa0f, 0xa10), (0xa13, 0xa28), (0xa2a, 0xa30), (0xa32, 0xa33), (0xa35, 0xa36),
    (0xa38, 0xa39), (0xa3c, 0xa3c), (0xa3e, 0xa42), (0xa47, 0xa48), (0xa4b, 0xa4d), (0xa51, 0xa51),
    (0xa59, 0xa5c), (0xa5e, 0xa5e), (0xa66, 0xa76), (0xa81, 0xa83), (0xa85, 0xa8d), (0xa8f, 0xa91),
    (0xa93, 0xaa8), (0xaaa, 0xab0), (0xab2, 0xab3), (0xab5, 0xab9), (0xabc, 0xac5), (0xac7, 0xac9),
    (0xacb, 0xacd), (0xad0, 0xad0), (0xae0, 0xae3), (0xae6, 0xaf1), (0xaf9, 0xaff), (0xb01, 0xb03),
    (0xb05, 0xb0c), (0xb0f, 0xb10), (0xb13, 0xb28), (0xb2a, 0xb30), (0xb32, 0xb33), (0xb35, 0xb39),
    (0xb3c, 0xb44), (0xb47, 0xb48), (0xb4b, 0xb4d), (0xb55, 0xb57), (0xb5c, 0xb5d), (0xb5f, 0xb63),
    (0xb66, 0xb77), (0xb82, 0xb83), (0xb85, 0xb8a), (0xb8e, 0xb90), (0xb92, 0xb95), (0xb99, 0xb9a),
    (0xb9c, 0xb9c), (0xb9e, 0xb9f), (0xba3, 0xba4), (0xba8, 0xbaa), (0xbae, 0xbb9), (0xbbe, 0xbc2),
    (0xbc6, 0xbc8), (0xbca, 0xbcd), (0xbd0, 0xbd0), (0xbd7, 0xbd7), (0xbe6, 0xbfa), (0xc00, 0xc0c),
    (0xc0e, 0xc10), (0xc12, 0xc28), (0xc2a, 0xc39), (0xc3c, 0xc44), (0xc46, 0xc48), (0xc4a, 0xc4d),
    (0xc55, 0xc56), (0xc58, 0xc5a), (0xc5d, 0xc5d), (0xc60, 0xc63), (0xc66, 0xc6f), (0xc77, 0xc8c),
    (0xc8e, 0xc90), (0xc92, 0xca8), (0xcaa, 0xcb3), (0xcb5, 0xcb9), (0xcbc, 0xcc4), (0xcc6, 0xcc8),
    (0xcca, 0xccd), (0xcd5, 0xcd6), (0xcdd, 0xcde), (0xce0, 0xce3), (0xce6, 0xcef), (0xcf1, 0xcf2),
    (0xd00, 0xd0c), (0xd0e, 0xd10), (0xd12, 0xd44), (0xd46, 0xd48), (0xd4a, 0xd4f), (0xd54, 0xd63),
    (0xd66, 0xd7f), (0xd81, 0xd83), (0xd85, 0xd96), (0xd9a, 0xdb1), (0xdb3, 0xdbb), (0xdbd, 0xdbd),
    (0xdc0, 0xdc6), (0xdca, 0xdca), (0xdcf, 0xdd4), (0xdd6, 0xdd6), (0xdd8, 0xddf), (0xde6, 0xdef),
    (0xdf2, 0xdf4), (0xe01, 0xe3a), (0xe3f, 0xe5b), (0xe81, 0xe82), (0xe84, 0xe84), (0xe86, 0xe8a),
    (0xe8c, 0xea3), (0xea5, 0xea5), (0xea7, 0xebd), (0xec0, 0xec4), (0xec6, 0xec6), (0xec8, 0xecd),
    (0xed0, 0xed9), (0xedc, 0xedf), (0xf00, 0xf47), (0xf49, 0xf6c), (0xf71, 0xf97), (0xf99, 0xfbc),
    (0xfbe, 0xfcc), (0xfce, 0xfda), (0x1000, 0x10c5), (0x10c7, 0x10c7), (0x10cd, 0x10cd),
    (0x10d0, 0x1248), (0x124a, 0x124d), (0x1250, 0x1256), (0x1258, 0x1258), (0x125a, 0x125d),
    (0x1260, 0x1288), (0x128a, 0x128d), (0x1290, 0x12b0), (0x12b2, 0x12b5), (0x12b8, 0x12be),
    (0x12c0, 0x12c0), (0x12c2, 0x12c5), (0x12c8, 0x12d6), (0x12d8, 0x1310), (0x1312, 0x1315),
    (0x1318, 0x135a), (0x135d, 0x137c), (0x1380, 0x1399), (0x13a0, 0x13f5), (0x13f8, 0x13fd),
    (0x1400, 0x167f), (0x1681, 0x169c), (0x16a0, 0x16f8), (0x1700, 0x1715), (0x171f, 0x1736),
    (0x1740, 0x1753), (0x1760, 0x176c), (0x176e, 0x1770), (0x1772, 0x1773), (0x1780, 0x17dd),
    (0x17e0, 0x17e9), (0x17f0, 0x17f9), (0x1800, 0x180d), (0x180f, 0x1819), (0x1820, 0x1878),
    (0x1880, 0x18aa), (0x18b0, 0x18f5), (0x1900, 0x191e), (0x1920, 0x192b), (0x1930, 0x193b),
    (0x1940, 0x1940), (0x1944, 0x196d), (0x1970, 0x1974), (0x1980, 0x19ab), (0x19b0, 0x19c9),
    (0x19d0, 0x19da), (0x19de, 0x1a1b), (0x1a1e, 0x1a5e), (0x1a60, 0x1a7c), (0x1a7f, 0x1a89),
    (0x1a90, 0x1a99), (0x1aa0, 0x1aad), (0x1ab0, 0x1ace), (0x1b00, 0x1b4c), (0x1b50, 0x1b7e),
    (0x1b80, 0x1bf3), (0x1bfc, 0x1c37), (0x1c3b, 0x1c49), (0x1c4d, 0x1c88), (0x1c90, 0x1cba),
    (0x1cbd, 0x1cc7), (0x1cd0, 0x1cfa), (0x1d00, 0x1f15), (0x1f18, 0x1f1d), (0x1f20, 0x1f45),
    (0x1f48, 0x1f4d), (0x1f50, 0x1f57), (0x1f59, 0x1f59), (0x1f5b, 0x1f5b), (0x1f5d, 0x1f5d),
    (0x1f5f, 0x1f7d), (0x1f80, 0x1fb4), (0x1fb6, 0x1fc4), (0x1fc6, 0x1fd3), (0x1fd6, 0x1fdb),
    (0x1fdd, 0x1fef), (0x1ff2, 0x1ff4), (0x1ff6, 0x1ffe), (0x2010, 0x2027), (0x2030, 0x205e),
    (0x2070, 0x2071), (0x2074, 0x208e), (0x2090, 0x209c), (0x20a0, 0x20c0), (0x20d0, 0x20f0),
    (0x2100, 0x218b), (0x2190, 0x2426), (0x2440, 0x244a), (0x2460, 0x2b73), (0x2b76, 0x2b95),
    (0x2b97, 0x2cf3), (0x2cf9, 0x2d25), (0x2d27, 0x2d27), (0x2d2d, 0x2d2d), (0x2d30, 0x2d67),
    (0x2d6f, 0x2d70), (0x2d7f, 0x2d96), (0x2da0, 0x2da6), (0x2da8, 0x2dae), (0x2db0, 0x2db6),
    (0x2db8, 0x2dbe), (0x2dc0, 0x2dc6), (0x2dc8, 0x2dce), (0x2dd0, 0x2dd6), (0x2dd8, 0x2dde),
    (0x2de0, 0x2e5d), (0x2e80, 0x2e99), (0x2e9b, 0x2ef3), (0x2f00, 0x2fd5), (0x2ff0, 0x2ffb),
    (0x3001, 0x303f), (0x3041, 0x3096), (0x3099, 0x30ff), (0x3105, 0x312f), (0x3131, 0x318e),
    (0x3190, 0x31e3), (0x31f0, 0x321e), (0x3220, 0xa48c), (0xa490, 0xa4c6), (0xa4d0, 0xa62b),
    (0xa640, 0xa6f7), (0xa700, 0xa7ca), (0xa7d0, 0xa7d1), (0xa7d3, 0xa7d3), (0xa7d5, 0xa7d9),
    (0xa7f2, 0xa82c), (0xa830, 0xa839), (0xa840, 0xa877), (0xa880, 0xa8c5), (0xa8ce, 0xa8d9),
    (0xa8e0, 0xa953), (0xa95f, 0xa97c), (0xa980, 0xa9cd), (0xa9cf, 0xa9d9), (0xa9de, 0xa9fe),
    (0xaa00, 0xaa36), (0xaa40, 0xaa4d), (0xaa50, 0xaa59), (0xaa5c, 0xaac2), (0xaadb, 0xaaf6),
    (0xab01, 0xab06), (0xab09, 0xab0e), (0xab11, 0xab16), (0xab20, 0xab26), (0xab28, 0xab2e),
    (0xab30, 0xab6b), (0xab70, 0xabed), (0xabf0, 0xabf9), (0xac00, 0xd7a3), (0xd7b0, 0xd7c6),
    (0xd7cb, 0xd7fb), (0xf900, 0xfa6d), (0xfa70, 0xfad9), (0xfb00, 0xfb06), (0xfb13, 0xfb17),
    (0xfb1d, 0xfb36), (0xfb38, 0xfb3c), (0xfb3e, 0xfb3e), (0xfb40, 0xfb41), (0xfb43, 0xfb44),
    (0xfb46, 0xfbc2), (0xfbd3, 0xfd8f), (0xfd92, 0xfdc7), (0xfdcf, 0xfdcf), (0xfdf0, 0xfe19),
    (0xfe20, 0xfe52), (0xfe54, 0xfe66), (0xfe68, 0xfe6b), (0xfe70, 0xfe74), (0xfe76, 0xfefc),
    (0xff01, 0xffbe), (0xffc2, 0xffc7), (0xffca, 0xffcf), (0xffd2, 0xffd7), (0xffda, 0xffdc),
    (0xffe0, 0xffe6), (0xffe8, 0xffee), (0xfffc, 0xfffd), (0x10000, 0x1000b), (0x1000d, 0x10026),
    (0x10028, 0x1003a), (0x1003c, 0x1003d), (0x1003f, 0x1004d), (0x10050, 0x1005d),
    (0x10080, 0x100fa), (0x10100, 0x10102), (0x10107, 0x10133), (0x10137, 0x1018e),
    (0x10190, 0x1019c), (0x101a0, 0x101a0), (0x101d0, 0x101fd), (0x10280, 0x1029c),
    (0x102a0, 0x102d0), (0x102e0, 0x102fb), (0x10300, 0x10323), (0x1032d, 0x1034a),
    (0x10350, 0x1037a), (0x10380, 0x1039d), (0x1039f, 0x103c3), (0x103c8, 0x103d5),
    (0x10400, 0x1049d), (0x104a0, 0x104a9), (0x104b0, 0x104d3), (0x104d8, 0x104fb),
    (0x10500, 0x10527), (0x10530, 0x10563), (0x1056f, 0x1057a), (0x1057c, 0x1058a),
    (0x1058c, 0x10592), (0x10594, 0x10595), (0x10597, 0x105a1), (0x105a3, 0x105b1),
    (0x105b3, 0x105b9), (0x105bb, 0x105bc), (0x10600, 0x10736), (0x10740, 0x10755),
    (0x10760, 0x10767), (0x10780, 0x10785), (0x10787, 0x107b0), (0x107b2, 0x107ba),
    (0x10800, 0x10805), (0x10808, 0x10808), (0x1080a, 0x10835), (0x10837, 0x10838),
    (0x1083c, 0x1083c), (0x1083f, 0x10855), (0x10857, 0x1089e), (0x108a7, 0x108af),
    (0x108e0, 0x108f2), (0x108f4, 0x108f5), (0x108fb, 0x1091b), (0x1091f, 0x10939),
    (0x1093f, 0x1093f), (0x10980, 0x109b7), (0x109bc, 0x109cf), (0x109d2, 0x10a03),
    (0x10a05, 0x10a06), (0x10a0c, 0x10a13), (0x10a15, 0x10a17), (0x10a19, 0x10a35),
    (0x10a38, 0x10a3a), (0x10a3f, 0x10a48), (0x10a50, 0x10a58), (0x10a60, 0x10a9f),
    (0x10ac0, 0x10ae6), (0x10aeb, 0x10af6), (0x10b00, 0x10b35), (0x10b39, 0x10b55),
    (0x10b58, 0x10b72), (0x10b78, 0x10b91), (0x10b99, 0x10b9c), (0x10ba9, 0x10baf),
    (0x10c00, 0x10c48), (0x10c80, 0x10cb2), (0x10cc0, 0x10cf2), (0x10cfa, 0x10d27),
    (0x10d30, 0x10d39), (0x10e60, 0x10e7e), (0x10e80, 0x10ea9), (0x10eab, 0x10ead),
    (0x10eb0, 0x10eb1), (0x10f00, 0x10f27), (0x10f30, 0x10f59), (0x10f70, 0x10f89),
    (0x10fb0, 0x10fcb), (0x10fe0, 0x10ff6), (0x11000, 0x1104d), (0x11052, 0x11075),
    (0x1107f, 0x110bc), (0x110be, 0x110c2), (0x110d0, 0x110e8), (0x110f0, 0x110f9),
    (0x11100, 0x11134), (0x11136, 0x11147), (0x11150, 0x11176), (0x11180, 0x111df),
    (0x111e1, 0x111f4), (0x11200, 0x11211), (0x11213, 0x1123e), (0x11280, 0x11286),
    (0x11288, 0x11288), (0x1128a, 0x1128d), (0x1128f, 0x1129d), (0x1129f, 0x112a9),
    (0x112b0, 0x112ea), (0x112f0, 0x112f9), (0x11300, 0x11303), (0x11305, 0x1130c),
    (0x1130f, 0x11310), (0x11313, 0x11328), (0x1132a, 0x11330), (0x11332, 0x11333),
    (0x11335, 0x11339), (0x1133b, 0x11344), (0x11347, 0x11348), (0x1134b, 0x1134d),
    (0x11350, 0x11350), (0x11357, 0x11357), (0x1135d, 0x11363), (0x11366, 0x1136c),
    (0x11370, 0x11374), (0x11400, 0x1145b), (0x1145d, 0x11461), (0x11480, 0x114c7),
    (0x114d0, 0x114d9), (0x11580, 0x115b5), (0x115b8, 0x115dd), (0x11600, 0x11644),
    (0x11650, 0x11659), (0x11660, 0x1166c), (0x11680, 0x116b9), (0x116c0, 0x116c9),
    (0x11700, 0x1171a), (0x1171d, 0x1172b), (0x11730, 0x11746), (0x11800, 0x1183b),
    (0x118a0, 0x118f2), (0x118ff, 0x11906), (0x11909, 0x11909), (0x1190c, 0x11913),
    (0x11915, 0x11916), (0x11918, 0x11935), (0x11937, 0x11938), (0x1193b, 0x11946),
    (0x11950, 0x11959), (0x119a0, 0x119a7), (0x119aa, 0x119d7), (0x119da, 0x119e4),
    (0x11a00, 0x11a47), (0x11a50, 0x11aa2), (0x11ab0, 0x11af8), (0x11c00, 0x11c08),
    (0x11c0a, 0x11c36), (0x11c38, 0x11c45), (0x11c50, 0x11c6c), (0x11c70, 0x11c8f),
    (0x11c92, 0x11ca7), (0x11ca9, 0x11cb6), (0x11d00, 0x11d06), (0x11d08, 0x11d09),
    (0x11d0b, 0x11d36), (0x11d3a, 0x11d3a), (0x11d3c, 0x11d3d), (0x11d3f, 0x11d47),
    (0x11d50, 0x11d59), (0x11d60, 0x11d65), (0x11d67, 0x11d68), (0x11d6a, 0x11d8e),
    (0x11d90, 0x11d91), (0x11d93, 0x11d98), (0x11da0, 0x11da9), (0x11ee0, 0x11ef8),
    (0x11fb0, 0x11fb0), (0x11fc0, 0x11ff1), (0x11fff, 0x12399), (0x12400, 0x1246e),
    (0x12470, 0x12474), (0x12480, 0x12543), (0x12f90, 0x12ff2), (0x13000, 0x1342e),
    (0x14400, 0x14646), (0x16800, 0x16a38), (0x16a40, 0x16a5e), (0x16a60, 0x16a69),
    (0x16a6e, 0x16abe), (0x16ac0, 0x16ac9), (0x16ad0, 0x16aed), (0x16af0, 0x16af5),
    (0x16b00, 0x16b45), (0x16b50, 0x16b59), (0x16b5b, 0x16b61), (0x16b63, 0x16b77),
    (0x16b7d, 0x16b8f), (0x16e40, 0x16e9a), (0x16f00, 0x16f4a), (0x16f4f, 0x16f87),
    (0x16f8f, 0x16f9f), (0x16fe0, 0x16fe4), (0x16ff0, 0x16ff1), (0x17000, 0x187f7),
    (0x18800, 0x18cd5), (0x18d00, 0x18d08), (0x1aff0, 0x1aff3), (0x1aff5, 0x1affb),
    (0x1affd, 0x1affe), (0x1b000, 0x1b122), (0x1b150, 0x1b152), (0x1b164, 0x1b167),
    (0x1b170, 0x1b2fb), (0x1bc00, 0x1bc6a), (0x1bc70, 0x1bc7c), (0x1bc80, 0x1bc88),
    (0x1bc90, 0x1bc99), (0x1bc9c, 0x1bc9f), (0x1cf00, 0x1cf2d), (0x1cf30, 0x1cf46),
    (0x1cf50, 0x1cfc3), (0x1d000, 0x1d0f5), (0x1d100, 0x1d126), (0x1d129, 0x1d172),
    (0x1d17b, 0x1d1ea), (0x1d200, 0x1d245), (0x1d2e0, 0x1d2f3), (0x1d300, 0x1d356),
    (0x1d360, 0x1d378), (0x1d400, 0x1d454), (0x1d456, 0x1d49c), (0x1d49e, 0x1d49f),
    (0x1d4a2, 0x1d4a2), (0x1d4a5, 0x1d4a6), (0x1d4a9, 0x1d4ac), (0x1d4ae, 0x1d4b9),
    (0x1d4bb, 0x1d4bb), (0x1d4bd, 0x1d4c3), (0x1d4c5, 0x1d505), (0x1d507, 0x1d50a),
    (0x1d50d, 0x1d514), (0x1d516, 0x1d51c), (0x1d51e, 0x1d539), (0x1d53b, 0x1d53e),
    (0x1d540, 0x1d544), (0x1d546, 0x1d546), (0x1d54a, 0x1d550), (0x1d552, 0x1d6a5),
    (0x1d6a8, 0x1d7cb), (0x1d7ce, 0x1da8b), (0x1da9b, 0x1da9f), (0x1daa1, 0x1daaf),
    (0x1df00, 0x1df1e), (0x1e000, 0x1e006), (0x1e008, 0x1e018), (0x1e01b, 0x1e021),
    (0x1e023, 0x1e024), (0x1e026, 0x1e02a), (0x1e100, 0x1e12c), (0x1e130, 0x1e13d),
    (0x1e140, 0x1e149), (0x1e14e, 0x1e14f), (0x1e290, 0x1e2ae), (0x1e2c0, 0x1e2f9),
    (0x1e2ff, 0x1e2ff), (0x1e7e0, 0x1e7e6), (0x1e7e8, 0x1e7eb), (0x1e7ed, 0x1e7ee),
    (0x1e7f0, 0x1e7fe), (0x1e800, 0x1e8c4), (0x1e8c7, 0x1e8d6), (0x1e900, 0x1e94b),
    (0x1e950, 0x1e959), (0x1e95e, 0x1e95f), (0x1ec71, 0x1ecb4), (0x1ed01, 0x1ed3d),
    (0x1ee00, 0x1ee03), (0x1ee05, 0x1ee1f), (0x1ee21, 0x1ee22), (0x1ee24, 0x1ee24),
    (0x1ee27, 0x1ee27), (0x1ee29, 0x1ee32), (0x1ee34, 0x1ee37), (0x1ee39, 0x1ee39),
    (0x1ee3b, 0x1ee3b), (0x1ee42, 0x1ee42), (0x1ee47, 0x1ee47), (0x1ee49, 0x1ee49),
    (0x1ee4b, 0x1ee4b), (0x1ee4d, 0x1ee4f), (0x1ee51, 0x1ee52), (0x1ee54, 0x1ee54),
    (0x1ee57, 0x1ee57), (0x1ee59, 0x1ee59), (0x1ee5b, 0x1ee5b), (0x1ee5d, 0x1ee5d),
    (0x1ee5f, 0x1ee5f), (0x1ee61, 0x1ee62), (0x1ee64, 0x1ee64), (0x1ee67, 0x1ee6a),
    (0x1ee6c, 0x1ee72), (0x1ee74, 0x1ee77), (0x1ee79, 0x1ee7c), (0x1ee7e, 0x1ee7e),
    (0x1ee80, 0x1ee89), (0x1ee8b, 0x1ee9b), (0x1eea1, 0x1eea3), (0x1eea5, 0x1eea9),
    (0x1eeab, 0x1eebb), (0x1eef0, 0x1eef1), (0x1f000, 0x1f02b), (0x1f030, 0x1f093),
    (0x1f0a0, 0x1f0ae), (0x1f0b1, 0x1f0bf), (0x1f0c1, 0x1f0cf), (0x1f0d1, 0x1f0f5),
    (0x1f100, 0x1f1ad), (0x1f1e6, 0x1f202), (0x1f210, 0x1f23b), (0x1f240, 0x1f248),
    (0x1f250, 0x1f251), (0x1f260, 0x1f265), (0x1f300, 0x1f6d7), (0x1f6dd, 0x1f6ec),
    (0x1f6f0, 0x1f6fc), (0x1f700, 0x1f773), (0x1f780, 0x1f7d8), (0x1f7e0, 0x1f7eb),
    (0x1f7f0, 0x1f7f0), (0x1f800, 0x1f80b), (0x1f810, 0x1f847), (0x1f850, 0x1f859),
    (0x1f860, 0x1f887), (0x1f890, 0x1f8ad), (0x1f8b0, 0x1f8b1), (0x1f900, 0x1fa53),
    (0x1fa60, 0x1fa6d), (0x1fa70, 0x1fa74), (0x1fa78, 0x1fa7c), (0x1fa80, 0x1fa86),
    (0x1fa90, 0x1faac), (0x1fab0, 0x1faba), (0x1fac0, 0x1fac5), (0x1fad0, 0x1fad9),
    (0x1fae0, 0x1fae7), (0x1faf0, 0x1faf6), (0x1fb00, 0x1fb92), (0x1fb94, 0x1fbca),
    (0x1fbf0, 0x1fbf9), (0x20000, 0x2a6df), (0x2a700, 0x2b738), (0x2b740, 0x2b81d),
    (0x2b820, 0x2cea1), (0x2ceb0, 0x2ebe0), (0x2f800, 0x2fa1d), (0x30000, 0x3134a),
    (0xe0100, 0xe01ef),
];

#[cfg(test)]
mod tests {
    use super::{parameter_types as pt, *};

    /// Validates `json` and returns the fault message, asserting the status.
    fn run(schema: &Schema, json: &str, legacy: bool) -> Option<String> {
        let mut bytes = json.as_bytes().to_vec();
        let value = simd_json::to_borrowed_value(&mut bytes).expect(json);
        let fault = validate_body(schema, &value, legacy).err()?;
        assert_eq!(fault.status, 400, "{json}");
        Some(fault.message.into_owned())
    }

    fn check_bodies(schema: &Schema, legacy: bool, cases: &[(&str, Option<&str>)]) {
        for (json, expected) in cases {
            assert_eq!(run(schema, json, legacy).as_deref(), *expected, "{json}");
        }
    }

    /// Query pairs and the expected message.
    type QueryCase<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);

    fn check_queries(schema: &Schema, legacy: bool, cases: &[QueryCase<'_>]) {
        for (pairs, expected) in cases {
            let got = validate_query(schema, pairs, legacy).err();
            let got = got.map(|fault| fault.message.into_owned());
            assert_eq!(got.as_deref(), *expected, "{pairs:?}");
        }
    }

    /// One keyword (or parameter type) per member, as in the table below.
    const PROBE: Schema = Schema::new(&[
        Keyword::Type(&[Type::Object]),
        Keyword::Properties(&[
            ("str", pt::STRING),
            (
                "union",
                Schema::new(&[Keyword::Type(&[Type::Integer, Type::String])]),
            ),
            (
                "multi",
                Schema::new(&[Keyword::Type(&[Type::String, Type::Number, Type::Null])]),
            ),
            (
                "enum",
                Schema::new(&[Keyword::Enum(&[
                    Literal::Str("a"),
                    Literal::Str("b"),
                    Literal::Bool(true),
                    Literal::Null,
                    Literal::Int(1),
                ])]),
            ),
            (
                "short",
                Schema::new(&[Keyword::Type(&[Type::String]), Keyword::MinLength(1)]),
            ),
            (
                "range",
                Schema::new(&[
                    Keyword::Type(&[Type::String]),
                    Keyword::MinLength(2),
                    Keyword::MaxLength(3),
                ]),
            ),
            (
                "empty",
                Schema::new(&[Keyword::Type(&[Type::String]), Keyword::MaxLength(0)]),
            ),
            (
                "digits",
                Schema::new(&[
                    Keyword::Type(&[Type::String]),
                    Keyword::Pattern(Pattern::DIGITS),
                ]),
            ),
            (
                "fid",
                Schema::new(&[
                    Keyword::Type(&[Type::String]),
                    Keyword::Pattern(Pattern::FLAVOR_ID),
                ]),
            ),
            (
                "uuid",
                Schema::new(&[
                    Keyword::Type(&[Type::String, Type::Null]),
                    Keyword::Format(Format::Uuid),
                ]),
            ),
            ("name", pt::NAME),
            ("lname", pt::NAME_WITH_LEADING_TRAILING_SPACES),
            ("min", Schema::new(&[Keyword::Minimum(Limit::Int(1))])),
            ("max", Schema::new(&[Keyword::Maximum(Limit::Int(10))])),
            ("fmax", Schema::new(&[Keyword::Maximum(Limit::Float(2.5))])),
            (
                "xmin",
                Schema::new(&[Keyword::ExclusiveMinimum(Limit::Int(0))]),
            ),
            (
                "xmax",
                Schema::new(&[Keyword::ExclusiveMaximum(Limit::Int(10))]),
            ),
            (
                "list",
                Schema::new(&[
                    Keyword::Type(&[Type::Array]),
                    Keyword::Items(Schema::new(&[Keyword::Type(&[Type::Integer])])),
                    Keyword::MinItems(1),
                    Keyword::MaxItems(2),
                ]),
            ),
            (
                "list2",
                Schema::new(&[Keyword::Type(&[Type::Array]), Keyword::MinItems(2)]),
            ),
            (
                "list0",
                Schema::new(&[Keyword::Type(&[Type::Array]), Keyword::MaxItems(0)]),
            ),
            (
                "obj",
                Schema::new(&[
                    Keyword::Type(&[Type::Object]),
                    Keyword::Properties(&[("a", Schema::new(&[Keyword::Type(&[Type::Integer])]))]),
                    Keyword::Required(&["a", "b"]),
                    Keyword::AdditionalProperties(false),
                ]),
            ),
            ("meta", pt::METADATA),
            (
                "one",
                Schema::new(&[
                    Keyword::Type(&[Type::Object]),
                    Keyword::MinProperties(1),
                    Keyword::MaxProperties(1),
                ]),
            ),
            (
                "few",
                Schema::new(&[Keyword::Type(&[Type::Object]), Keyword::MinProperties(2)]),
            ),
            (
                "none",
                Schema::new(&[Keyword::Type(&[Type::Object]), Keyword::MaxProperties(0)]),
            ),
            (
                "all",
                Schema::new(&[Keyword::AllOf(&[
                    pt::STRING,
                    Schema::new(&[Keyword::MinLength(2)]),
                ])]),
            ),
            ("bool", pt::BOOLEAN),
            ("pos", pt::POSITIVE_INTEGER),
            ("keypair", pt::KEYPAIR_NAME_SPECIAL_CHARS),
            ("desc", pt::DESCRIPTION),
            (
                "quota",
                Schema::new(&[
                    Keyword::Type(&[Type::Integer, Type::String]),
                    Keyword::Pattern(Pattern::SIGNED_DIGITS),
                    Keyword::Minimum(Limit::Int(-1)),
                    Keyword::Maximum(Limit::Int(pt::MAX_INT)),
                ]),
            ),
            ("limits", RXTX_FACTOR),
        ]),
        Keyword::AdditionalProperties(false),
    ]);

    /// `{'a': {}}`, required, nothing else.
    const ROOT: Schema = Schema::new(&[
        Keyword::Type(&[Type::Object]),
        Keyword::Properties(&[("a", Schema::ANY)]),
        Keyword::Required(&["a"]),
        Keyword::AdditionalProperties(false),
    ]);

    // The flavor schemas are the controller's own: these tests check its messages.
    use crate::api::flavors::{
        CREATE as FLAVOR_CREATE, CREATE_V20 as FLAVOR_CREATE_V20,
        CREATE_V255 as FLAVOR_CREATE_V255, RXTX_FACTOR,
    };

    /// The members of a valid create body, in order, as JSON text.
    const FLAVOR: &[(&str, &str)] = &[
        ("name", r#""test""#),
        ("ram", "512"),
        ("vcpus", "2"),
        ("disk", "1"),
        ("OS-FLV-EXT-DATA:ephemeral", "1"),
        ("id", r#""1234""#),
        ("swap", "512"),
        ("rxtx_factor", "1"),
        ("os-flavor-access:is_public", "true"),
    ];

    /// A valid create body with `field` set to `value` (JSON), or removed when `None`.
    fn flavor_body(field: &str, value: Option<&str>) -> String {
        let mut members: Vec<(&str, &str)> = FLAVOR.to_vec();
        match (members.iter().position(|(name, _)| *name == field), value) {
            (Some(at), Some(value)) => members[at].1 = value,
            (Some(at), None) => {
                members.remove(at);
            }
            (None, Some(value)) => members.push((field, value)),
            (None, None) => {}
        }
        let members: Vec<String> = members
            .iter()
            .map(|(name, value)| format!("\"{name}\": {value}"))
            .collect();
        format!("{{\"flavor\": {{{}}}}}", members.join(", "))
    }

    fn check_flavor_fields(
        schema: &Schema,
        legacy: bool,
        cases: &[(&str, Option<&str>, Option<&str>)],
    ) {
        for (field, value, expected) in cases {
            let body = flavor_body(field, *value);
            assert_eq!(run(schema, &body, legacy).as_deref(), *expected, "{body}");
        }
    }

    const SORT_KEYS: &[Literal] = &[
        Literal::Str("created_at"),
        Literal::Str("description"),
        Literal::Str("disabled"),
        Literal::Str("ephemeral_gb"),
        Literal::Str("flavorid"),
        Literal::Str("id"),
        Literal::Str("is_public"),
        Literal::Str("memory_mb"),
        Literal::Str("name"),
        Literal::Str("root_gb"),
        Literal::Str("rxtx_factor"),
        Literal::Str("swap"),
        Literal::Str("updated_at"),
        Literal::Str("vcpu_weight"),
        Literal::Str("vcpus"),
    ];

    /// Nova's flavor `index_query` (`additionalProperties` as given: true before 2.75).
    macro_rules! flavor_index {
        ($additional:expr) => {
            Schema::new(&[
                Keyword::Type(&[Type::Object]),
                Keyword::Properties(&[
                    ("limit", pt::LIMIT),
                    ("marker", pt::MARKER),
                    ("is_public", pt::COMMON_QUERY_PARAM),
                    ("minRam", pt::COMMON_QUERY_PARAM),
                    ("minDisk", pt::COMMON_QUERY_PARAM),
                    (
                        "sort_key",
                        Schema::new(&pt::multi_params(Schema::new(&[
                            Keyword::Type(&[Type::String]),
                            Keyword::Enum(SORT_KEYS),
                        ]))),
                    ),
                    (
                        "sort_dir",
                        Schema::new(&pt::multi_params(Schema::new(&[
                            Keyword::Type(&[Type::String]),
                            Keyword::Enum(&[Literal::Str("asc"), Literal::Str("desc")]),
                        ]))),
                    ),
                ]),
                Keyword::AdditionalProperties($additional),
            ])
        };
    }

    const FLAVOR_INDEX: Schema = flavor_index!(true);
    const FLAVOR_INDEX_V275: Schema = flavor_index!(false);

    const SINGLE: Schema = Schema::new(&[
        Keyword::Type(&[Type::Object]),
        Keyword::Properties(&[("marker", Schema::new(&pt::single_param(pt::STRING)))]),
        Keyword::AdditionalProperties(false),
    ]);

    const SERVER_METADATA: Schema = Schema::new(&[
        Keyword::Type(&[Type::Object]),
        Keyword::Properties(&[("metadata", pt::METADATA)]),
        Keyword::Required(&["metadata"]),
        Keyword::AdditionalProperties(false),
    ]);

    #[test]
    fn every_keyword_words_its_error_like_jsonschema() {
        check_bodies(&PROBE, false, &[
            (r#"{"str": "ok", "union": 1, "multi": null, "enum": "a"}"#, None),
            (r#"{"union": 1.5}"#, Some("Invalid input for field/attribute union. Value: 1.5. 1.5 is not of type 'integer', 'string'")),
            (r#"{"union": 2.0}"#, None),
            (r#"{"union": true}"#, Some("Invalid input for field/attribute union. Value: True. True is not of type 'integer', 'string'")),
            (r#"{"multi": true}"#, Some("Invalid input for field/attribute multi. Value: True. True is not of type 'string', 'number', 'null'")),
            (r#"{"multi": []}"#, Some("Invalid input for field/attribute multi. Value: []. [] is not of type 'string', 'number', 'null'")),
            (r#"{"enum": "c"}"#, Some("Invalid input for field/attribute enum. Value: c. 'c' is not one of ['a', 'b', True, None, 1]")),
            (r#"{"enum": 1.0}"#, None),
            (r#"{"enum": 2}"#, Some("Invalid input for field/attribute enum. Value: 2. 2 is not one of ['a', 'b', True, None, 1]")),
            (r#"{"enum": false}"#, Some("Invalid input for field/attribute enum. Value: False. False is not one of ['a', 'b', True, None, 1]")),
            (r#"{"enum": 0}"#, Some("Invalid input for field/attribute enum. Value: 0. 0 is not one of ['a', 'b', True, None, 1]")),
            (r#"{"enum": null}"#, None),
            (r#"{"short": ""}"#, Some("Invalid input for field/attribute short. Value: . '' should be non-empty")),
            (r#"{"range": "a"}"#, Some("Invalid input for field/attribute range. Value: a. 'a' is too short")),
            (r#"{"range": "abcd"}"#, Some("Invalid input for field/attribute range. Value: abcd. 'abcd' is too long")),
            (r#"{"range": "\u00e9\u00e9\u00e9"}"#, None),
            (r#"{"empty": "x"}"#, Some("Invalid input for field/attribute empty. Value: x. 'x' is expected to be empty")),
            (r#"{"digits": "abc"}"#, Some("Invalid input for field/attribute digits. Value: abc. 'abc' does not match '^[0-9]+$'")),
            (r#"{"digits": "12\n"}"#, None),
            (r#"{"digits": "\n12"}"#, Some("Invalid input for field/attribute digits. Value: \u{a}12. '\\n12' does not match '^[0-9]+$'")),
            (r#"{"digits": "12\n\n"}"#, Some("Invalid input for field/attribute digits. Value: 12\u{a}\u{a}. '12\\n\\n' does not match '^[0-9]+$'")),
            (r#"{"digits": "a'b"}"#, Some("Invalid input for field/attribute digits. Value: a'b. \"a'b\" does not match '^[0-9]+$'")),
            (r#"{"fid": "abc\n"}"#, None),
            (r#"{"fid": "abc \n"}"#, Some("Invalid input for field/attribute fid. Value: abc \u{a}. 'abc \\n' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")),
            (r#"{"fid": " abc"}"#, Some("Invalid input for field/attribute fid. Value:  abc. ' abc' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")),
            (r#"{"fid": "a.b_c-d e"}"#, None),
            (r#"{"fid": ""}"#, Some("Invalid input for field/attribute fid. Value: . '' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")),
            (r#"{"uuid": "abc"}"#, Some("Invalid input for field/attribute uuid. Value: abc. 'abc' is not a 'uuid'")),
            (r#"{"uuid": "70a599e0-31e7-49b7-b260-868f441e862b"}"#, None),
            (r#"{"uuid": "{70A599E031E749B7B260868F441E862B}"}"#, None),
            (r#"{"uuid": "urn:uuid:70a599e0-31e7-49b7-b260-868f441e862b"}"#, None),
            (r#"{"uuid": "70a599e0-31e7-49b7-b260-868f441e862"}"#, Some("Invalid input for field/attribute uuid. Value: 70a599e0-31e7-49b7-b260-868f441e862. '70a599e0-31e7-49b7-b260-868f441e862' is not a 'uuid'")),
            (r#"{"uuid": "70a599e0-31e7-49b7-b260-868f441e862bb"}"#, Some("Invalid input for field/attribute uuid. Value: 70a599e0-31e7-49b7-b260-868f441e862bb. '70a599e0-31e7-49b7-b260-868f441e862bb' is not a 'uuid'")),
            (r#"{"uuid": "g0a599e031e749b7b260868f441e862b"}"#, Some("Invalid input for field/attribute uuid. Value: g0a599e031e749b7b260868f441e862b. 'g0a599e031e749b7b260868f441e862b' is not a 'uuid'")),
            (r#"{"uuid": "--70a599e031e749b7b260868f441e862b--"}"#, None),
            (r#"{"uuid": null}"#, None),
            (r#"{"uuid": " 70a599e031e749b7b260868f441e862b"}"#, Some("Invalid input for field/attribute uuid. Value:  70a599e031e749b7b260868f441e862b. ' 70a599e031e749b7b260868f441e862b' is not a 'uuid'")),
            (r#"{"uuid": "uurn:uid:70a599e031e749b7b260868f441e862b"}"#, None),
            (r#"{"uuid": "{{70a599e031e749b7b260868f441e862b}"}"#, None),
            (r#"{"name": " "}"#, Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            (r#"{"name": ""}"#, Some("Invalid input for field/attribute name. Value: . '' should be non-empty")),
            (r#"{"name": "a\n"}"#, None),
            (r#"{"name": "\u00a0a"}"#, Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            (r#"{"name": "a\u2006b"}"#, None),
            (r#"{"name": "\uffff"}"#, Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            (r#"{"name": "\ud83d\ude00"}"#, Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            (r#"{"name": 5}"#, Some("Invalid input for field/attribute name. Value: 5. 5 is not of type 'string'")),
            (r#"{"name": "a\u0001b"}"#, Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            (r#"{"name": "\n"}"#, Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            (r#"{"name": "m1.small"}"#, None),
            (r#"{"name": "\u0434\u2006\ufffd"}"#, None),
            (r#"{"lname": "  x  "}"#, None),
            (r#"{"lname": " "}"#, Some("An invalid 'name' value was provided. The name must be: printable characters with at least one non space character")),
            (r#"{"lname": ""}"#, Some("An invalid 'name' value was provided. The name must be: printable characters with at least one non space character")),
            (r#"{"lname": "\u00a0"}"#, Some("An invalid 'name' value was provided. The name must be: printable characters with at least one non space character")),
            (r#"{"lname": "x\n"}"#, None),
            (r#"{"min": "abc"}"#, None),
            (r#"{"min": " 0 "}"#, Some("Invalid input for field/attribute min. Value:  0 . 0 is less than the minimum of 1")),
            (r#"{"min": "1_0"}"#, None),
            (r#"{"min": "-5"}"#, Some("Invalid input for field/attribute min. Value: -5. -5 is less than the minimum of 1")),
            (r#"{"min": "0.5"}"#, Some("Invalid input for field/attribute min. Value: 0.5. 0.5 is less than the minimum of 1")),
            (r#"{"min": "-inf"}"#, Some("Invalid input for field/attribute min. Value: -inf. -inf is less than the minimum of 1")),
            (r#"{"min": "nan"}"#, None),
            (r#"{"min": "1e-3"}"#, Some("Invalid input for field/attribute min. Value: 1e-3. 0.001 is less than the minimum of 1")),
            (r#"{"min": true}"#, None),
            (r#"{"min": false}"#, Some("Invalid input for field/attribute min. Value: False. 0 is less than the minimum of 1")),
            (r#"{"min": null}"#, None),
            (r#"{"min": []}"#, None),
            (r#"{"min": 0.9}"#, Some("Invalid input for field/attribute min. Value: 0.9. 0 is less than the minimum of 1")),
            (r#"{"min": -0.5}"#, Some("Invalid input for field/attribute min. Value: -0.5. 0 is less than the minimum of 1")),
            (r#"{"min": "0_0.5"}"#, Some("Invalid input for field/attribute min. Value: 0_0.5. 0.5 is less than the minimum of 1")),
            (r#"{"min": "+0"}"#, Some("Invalid input for field/attribute min. Value: +0. 0 is less than the minimum of 1")),
            (r#"{"min": "1__0"}"#, None),
            (r#"{"min": ".5"}"#, Some("Invalid input for field/attribute min. Value: .5. 0.5 is less than the minimum of 1")),
            (r#"{"max": 11}"#, Some("Invalid input for field/attribute max. Value: 11. 11 is greater than the maximum of 10")),
            (r#"{"max": "11"}"#, Some("Invalid input for field/attribute max. Value: 11. 11 is greater than the maximum of 10")),
            (r#"{"max": 10.5}"#, None),
            (r#"{"max": -1e300}"#, None),
            (r#"{"max": 18446744073709551615}"#, Some("Invalid input for field/attribute max. Value: 18446744073709551615. 18446744073709551615 is greater than the maximum of 10")),
            (r#"{"fmax": 3}"#, Some("Invalid input for field/attribute fmax. Value: 3. 3 is greater than the maximum of 2.5")),
            (r#"{"fmax": "2.6"}"#, Some("Invalid input for field/attribute fmax. Value: 2.6. 2.6 is greater than the maximum of 2.5")),
            (r#"{"fmax": 1e16}"#, Some("Invalid input for field/attribute fmax. Value: 1e+16. 10000000000000000 is greater than the maximum of 2.5")),
            (r#"{"fmax": 2}"#, None),
            (r#"{"fmax": 2.5}"#, None),
            (r#"{"xmin": 0}"#, Some("Invalid input for field/attribute xmin. Value: 0. 0 is less than or equal to the minimum of 0")),
            (r#"{"xmin": -0.5}"#, Some("Invalid input for field/attribute xmin. Value: -0.5. -0.5 is less than or equal to the minimum of 0")),
            (r#"{"xmin": "0"}"#, None),
            (r#"{"xmin": true}"#, None),
            (r#"{"xmin": 0.0}"#, Some("Invalid input for field/attribute xmin. Value: 0.0. 0.0 is less than or equal to the minimum of 0")),
            (r#"{"xmin": 1e-300}"#, None),
            (r#"{"xmax": 10}"#, Some("Invalid input for field/attribute xmax. Value: 10. 10 is greater than or equal to the maximum of 10")),
            (r#"{"xmax": 10.0}"#, Some("Invalid input for field/attribute xmax. Value: 10.0. 10.0 is greater than or equal to the maximum of 10")),
            (r#"{"xmax": 9.999}"#, None),
            (r#"{"list": [1, "x"]}"#, Some("Invalid input for field/attribute 1. Value: x. 'x' is not of type 'integer'")),
            (r#"{"list": []}"#, Some("Invalid input for field/attribute list. Value: []. [] should be non-empty")),
            (r#"{"list": [1, 2, 3]}"#, Some("Invalid input for field/attribute list. Value: [1, 2, 3]. [1, 2, 3] is too long")),
            (r#"{"list": [1.0, 2]}"#, None),
            (r#"{"list2": [1]}"#, Some("Invalid input for field/attribute list2. Value: [1]. [1] is too short")),
            (r#"{"list0": [1]}"#, Some("Invalid input for field/attribute list0. Value: [1]. [1] is expected to be empty")),
            (r#"{"obj": []}"#, Some("Invalid input for field/attribute obj. Value: []. [] is not of type 'object'")),
            (r#"{"obj": {}}"#, Some("Invalid input for field/attribute obj. Value: {}. 'a' is a required property")),
            (r#"{"obj": {"a": 1}}"#, Some("Invalid input for field/attribute obj. Value: {'a': 1}. 'b' is a required property")),
            (r#"{"obj": {"a": 1, "b": 2, "c": 3, "d": 4}}"#, Some("Invalid input for field/attribute obj. Value: {'a': 1, 'b': 2, 'c': 3, 'd': 4}. Additional properties are not allowed ('b', 'c', 'd' were unexpected)")),
            (r#"{"obj": {"a": "x", "b": 2}}"#, Some("Invalid input for field/attribute a. Value: x. 'x' is not of type 'integer'")),
            (r#"{"meta": {"a!": "x"}}"#, Some("Invalid input for field/attribute meta. Value: {'a!': 'x'}. 'a!' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'")),
            (r#"{"meta": {"b!": 1, "a!": 2}}"#, Some("Invalid input for field/attribute meta. Value: {'b!': 1, 'a!': 2}. 'a!', 'b!' do not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'")),
            (r#"{"meta": {"k": 1}}"#, Some("Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'")),
            (r#"{"meta": {"k\n": "v"}}"#, None),
            (r#"{"meta": {"": "v"}}"#, Some("Invalid input for field/attribute meta. Value: {'': 'v'}. '' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'")),
            (r#"{"meta": []}"#, Some("Invalid input for field/attribute meta. Value: []. [] is not of type 'object'")),
            (r#"{"one": {}}"#, Some("Invalid input for field/attribute one. Value: {}. {} should be non-empty")),
            (r#"{"one": {"a": 1, "b": 2}}"#, Some("Invalid input for field/attribute one. Value: {'a': 1, 'b': 2}. {'a': 1, 'b': 2} has too many properties")),
            (r#"{"few": {"a": 1}}"#, Some("Invalid input for field/attribute few. Value: {'a': 1}. {'a': 1} does not have enough properties")),
            (r#"{"none": {"a": 1}}"#, Some("Invalid input for field/attribute none. Value: {'a': 1}. {'a': 1} is expected to be empty")),
            (r#"{"all": 1}"#, Some("Invalid input for field/attribute all. Value: 1. 1 is not of type 'string'")),
            (r#"{"all": "a"}"#, Some("Invalid input for field/attribute all. Value: a. 'a' is too short")),
            (r#"{"all": "ab"}"#, None),
            (r#"{"bool": "maybe"}"#, Some("Invalid input for field/attribute bool. Value: maybe. 'maybe' is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']")),
            (r#"{"bool": 1}"#, Some("Invalid input for field/attribute bool. Value: 1. 1 is not of type 'boolean', 'string'")),
            (r#"{"bool": "yes"}"#, None),
            (r#"{"bool": false}"#, None),
            (r#"{"pos": ""}"#, Some("Invalid input for field/attribute pos. Value: . '' should be non-empty")),
            (r#"{"pos": "0"}"#, Some("Invalid input for field/attribute pos. Value: 0. 0 is less than the minimum of 1")),
            (r#"{"pos": 0}"#, Some("Invalid input for field/attribute pos. Value: 0. 0 is less than the minimum of 1")),
            (r#"{"pos": "abc"}"#, Some("Invalid input for field/attribute pos. Value: abc. 'abc' does not match '^[0-9]*$'")),
            (r#"{"pos": "12\n"}"#, None),
            (r#"{"pos": -1}"#, Some("Invalid input for field/attribute pos. Value: -1. -1 is less than the minimum of 1")),
            (r#"{"pos": "\n"}"#, None),
            (r#"{"keypair": "a b_c-d"}"#, None),
            (r#"{"keypair": "a.b"}"#, Some("Invalid input for field/attribute keypair. Value: a.b. 'a.b' does not match '^[_\\\\- a-zA-Z0-9]+$'")),
            (r#"{"keypair": " a"}"#, Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            (r#"{"keypair": ""}"#, Some("Invalid input for field/attribute keypair. Value: . '' should be non-empty")),
            (r#"{"desc": null}"#, None),
            (r#"{"desc": "ok \u00e9"}"#, None),
            (r#"{"desc": 1}"#, Some("Invalid input for field/attribute desc. Value: 1. 1 is not of type 'string', 'null'")),
            (r#"{"quota": "-1"}"#, None),
            (r#"{"quota": "-2"}"#, Some("Invalid input for field/attribute quota. Value: -2. -2 is less than the minimum of -1")),
            (r#"{"quota": "--1"}"#, Some("Invalid input for field/attribute quota. Value: --1. '--1' does not match '^-?[0-9]+$'")),
            (r#"{"quota": 2147483648}"#, Some("Invalid input for field/attribute quota. Value: 2147483648. 2147483648 is greater than the maximum of 2147483647")),
            (r#"{"quota": -1}"#, None),
            (r#"{"limits": -1}"#, Some("Invalid input for field/attribute limits. Value: -1. -1 is less than or equal to the minimum of 0")),
            (r#"{"limits": 0}"#, Some("Invalid input for field/attribute limits. Value: 0. 0 is less than or equal to the minimum of 0")),
            (r#"{"limits": 0.5}"#, None),
            (r#"{"limits": "0"}"#, None),
            (r#"{"limits": 6.80564e+38}"#, Some("Invalid input for field/attribute limits. Value: 6.80564e+38. 680564000000000028384145201885945528320 is greater than the maximum of 3.40282e+38")),
            (r#"{"limits": 3.0e38}"#, None),
            (r#"{"limits": "340282000000000000000000000000000000001"}"#, None),
            (r#"{"limits": "340282000000000014192072600942972764161"}"#, Some("Invalid input for field/attribute limits. Value: 340282000000000014192072600942972764161. 340282000000000014192072600942972764161 is greater than the maximum of 3.40282e+38")),
            (r#"{"limits": "1.5.2"}"#, Some("Invalid input for field/attribute limits. Value: 1.5.2. '1.5.2' does not match '^[0-9]+(\\\\.[0-9]+)?$'")),
            (r#"{"limits": "1.5"}"#, None),
            (r#"{"unknown": 1}"#, Some("Additional properties are not allowed ('unknown' was unexpected)")),
            (r#"{"str": "x", "b": 1, "a": 2}"#, Some("Additional properties are not allowed ('a', 'b' were unexpected)")),
        ]);
    }

    #[test]
    fn values_print_as_python_str_and_repr() {
        check_bodies(&PROBE, false, &[
            (r#"{"str": null}"#, Some("Invalid input for field/attribute str. Value: None. None is not of type 'string'")),
            (r#"{"str": true}"#, Some("Invalid input for field/attribute str. Value: True. True is not of type 'string'")),
            (r#"{"str": false}"#, Some("Invalid input for field/attribute str. Value: False. False is not of type 'string'")),
            (r#"{"str": 0}"#, Some("Invalid input for field/attribute str. Value: 0. 0 is not of type 'string'")),
            (r#"{"str": -7}"#, Some("Invalid input for field/attribute str. Value: -7. -7 is not of type 'string'")),
            (r#"{"str": 18446744073709551615}"#, Some("Invalid input for field/attribute str. Value: 18446744073709551615. 18446744073709551615 is not of type 'string'")),
            (r#"{"str": -9223372036854775808}"#, Some("Invalid input for field/attribute str. Value: -9223372036854775808. -9223372036854775808 is not of type 'string'")),
            (r#"{"str": 1.5}"#, Some("Invalid input for field/attribute str. Value: 1.5. 1.5 is not of type 'string'")),
            (r#"{"str": 1e16}"#, Some("Invalid input for field/attribute str. Value: 1e+16. 1e+16 is not of type 'string'")),
            (r#"{"str": 1e15}"#, Some("Invalid input for field/attribute str. Value: 1000000000000000.0. 1000000000000000.0 is not of type 'string'")),
            (r#"{"str": 1e-5}"#, Some("Invalid input for field/attribute str. Value: 1e-05. 1e-05 is not of type 'string'")),
            (r#"{"str": 0.0001}"#, Some("Invalid input for field/attribute str. Value: 0.0001. 0.0001 is not of type 'string'")),
            (r#"{"str": -0.0}"#, Some("Invalid input for field/attribute str. Value: -0.0. -0.0 is not of type 'string'")),
            (r#"{"str": 1e100}"#, Some("Invalid input for field/attribute str. Value: 1e+100. 1e+100 is not of type 'string'")),
            (r#"{"str": 123.456}"#, Some("Invalid input for field/attribute str. Value: 123.456. 123.456 is not of type 'string'")),
            (r#"{"str": 0.1}"#, Some("Invalid input for field/attribute str. Value: 0.1. 0.1 is not of type 'string'")),
            (r#"{"str": 5e-324}"#, Some("Invalid input for field/attribute str. Value: 5e-324. 5e-324 is not of type 'string'")),
            (r#"{"str": 1.7976931348623157e308}"#, Some("Invalid input for field/attribute str. Value: 1.7976931348623157e+308. 1.7976931348623157e+308 is not of type 'string'")),
            (r#"{"str": 2.5e-5}"#, Some("Invalid input for field/attribute str. Value: 2.5e-05. 2.5e-05 is not of type 'string'")),
            (r#"{"str": 1E2}"#, Some("Invalid input for field/attribute str. Value: 100.0. 100.0 is not of type 'string'")),
            (r#"{"str": -0}"#, Some("Invalid input for field/attribute str. Value: 0. 0 is not of type 'string'")),
            (r#"{"str": []}"#, Some("Invalid input for field/attribute str. Value: []. [] is not of type 'string'")),
            (r#"{"str": [1, "a", null, true]}"#, Some("Invalid input for field/attribute str. Value: [1, 'a', None, True]. [1, 'a', None, True] is not of type 'string'")),
            (r#"{"str": {}}"#, Some("Invalid input for field/attribute str. Value: {}. {} is not of type 'string'")),
            (r#"{"str": {"a": 1, "b": [true, {"c": "d"}]}}"#, Some("Invalid input for field/attribute str. Value: {'a': 1, 'b': [True, {'c': 'd'}]}. {'a': 1, 'b': [True, {'c': 'd'}]} is not of type 'string'")),
            (r#"{"str": ["it's"]}"#, Some("Invalid input for field/attribute str. Value: [\"it's\"]. [\"it's\"] is not of type 'string'")),
            (r#"{"str": ["say \"hi\""]}"#, Some("Invalid input for field/attribute str. Value: ['say \"hi\"']. ['say \"hi\"'] is not of type 'string'")),
            (r#"{"str": ["both ' \""]}"#, Some("Invalid input for field/attribute str. Value: ['both \\' \"']. ['both \\' \"'] is not of type 'string'")),
            (r#"{"str": ["\n\t\r\u0001\u007f\\"]}"#, Some("Invalid input for field/attribute str. Value: ['\\n\\t\\r\\x01\\x7f\\\\']. ['\\n\\t\\r\\x01\\x7f\\\\'] is not of type 'string'")),
            (r#"{"str": ["\u00e9", "\u00a0", "\u200b", "\ud83d\ude00", "\u0378", "\ue000", "\udb40\udc80", "\u0085", "\u00ad"]}"#, Some("Invalid input for field/attribute str. Value: ['\u{e9}', '\\xa0', '\\u200b', '\u{1f600}', '\\u0378', '\\ue000', '\\U000e0080', '\\x85', '\\xad']. ['\u{e9}', '\\xa0', '\\u200b', '\u{1f600}', '\\u0378', '\\ue000', '\\U000e0080', '\\x85', '\\xad'] is not of type 'string'")),
            (r#"{"str": [[[[]]]]}"#, Some("Invalid input for field/attribute str. Value: [[[[]]]]. [[[[]]]] is not of type 'string'")),
            (r#"{"str": {"k": {"k": {}}}}"#, Some("Invalid input for field/attribute str. Value: {'k': {'k': {}}}. {'k': {'k': {}}} is not of type 'string'")),
            (r#"{"str": [{"a'": "b\""}]}"#, Some("Invalid input for field/attribute str. Value: [{\"a'\": 'b\"'}]. [{\"a'\": 'b\"'}] is not of type 'string'")),
            (r#"{"digits": "caf\u00e9 \u2028"}"#, Some("Invalid input for field/attribute digits. Value: caf\u{e9} \u{2028}. 'caf\u{e9} \\u2028' does not match '^[0-9]+$'")),
            (r#"{"str": 1, "str": "ok"}"#, None),
            (r#"{"obj": {"a": "x", "a": 1, "b": 2}}"#, Some("Invalid input for field/attribute obj. Value: {'a': 1, 'b': 2}. Additional properties are not allowed ('b' was unexpected)")),
            (r#"{"obj": {"a": 1, "b": 2, "a": "x"}}"#, Some("Invalid input for field/attribute a. Value: x. 'x' is not of type 'integer'")),
            (r#"{"one": {"a": 1, "a": 2}}"#, None),
            (r#"{"obj": {"a": 1, "c": 2, "a": 3, "b": 1}}"#, Some("Invalid input for field/attribute obj. Value: {'a': 3, 'c': 2, 'b': 1}. Additional properties are not allowed ('b', 'c' were unexpected)")),
        ]);
    }

    #[test]
    fn root_errors_are_bare() {
        check_bodies(&ROOT, false, &[
            (r#"{}"#, Some("'a' is a required property")),
            (r#"{"a": 1, "b": 2}"#, Some("Additional properties are not allowed ('b' was unexpected)")),
            (r#"{"a": 1, "c": 1, "b": 2}"#, Some("Additional properties are not allowed ('b', 'c' were unexpected)")),
            (r#"[]"#, Some("[] is not of type 'object'")),
            (r#"null"#, Some("None is not of type 'object'")),
            (r#""x""#, Some("'x' is not of type 'object'")),
            (r#"1"#, Some("1 is not of type 'object'")),
            (r#"{"a": 1, "\u00e9": 1, "Z": 1, "_": 1}"#, Some("Additional properties are not allowed ('Z', '_', '\u{e9}' were unexpected)")),
            (r#"{"b": 1}"#, Some("'a' is a required property")),
            (r#"{"a": 1}"#, None),
            (r#"{"a": 1, "a": 2}"#, None),
            (r#"{"a": 1, "x0": 0, "x1": 1, "x2": 2, "x3": 3, "x4": 4, "x5": 5, "x6": 6, "x7": 7, "x8": 8, "x9": 9, "x10": 10, "x11": 11, "x12": 12, "x13": 13, "x14": 14, "x15": 15, "x16": 16, "x17": 17, "x18": 18, "x19": 19, "x20": 20, "x21": 21, "x22": 22, "x23": 23, "x24": 24, "x25": 25, "x26": 26, "x27": 27, "x28": 28, "x29": 29, "x30": 30, "x31": 31, "x32": 32, "x33": 33, "x34": 34, "x35": 35, "x36": 36, "x37": 37, "x38": 38, "x39": 39}"#, Some("Additional properties are not allowed ('x0', 'x1', 'x10', 'x11', 'x12', 'x13', 'x14', 'x15', 'x16', 'x17', 'x18', 'x19', 'x2', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x3', 'x30', 'x31', 'x32', 'x33', 'x34', 'x35', 'x36', 'x37', 'x38', 'x39', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9' were unexpected)")),
            (r#"{"a": 1, "b": 1, "b": 2}"#, Some("Additional properties are not allowed ('b' was unexpected)")),
        ]);
    }

    #[test]
    fn flavor_create_members() {
        check_flavor_fields(&FLAVOR_CREATE, false, &[
            ("name", Some(r#""test""#), None),
            ("name", Some(r#"" ""#), Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            ("name", Some(r#""""#), Some("Invalid input for field/attribute name. Value: . '' should be non-empty")),
            ("name", Some(r#""bad !@#!$%\u0000 name""#), Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            ("name", Some(r#"123"#), Some("Invalid input for field/attribute name. Value: 123. 123 is not of type 'string'")),
            ("name", Some(r#""  test  ""#), Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            ("name", Some(r#""azAZ09. -_""#), None),
            ("name", None, Some("Invalid input for field/attribute flavor. Value: {'ram': 512, 'vcpus': 2, 'disk': 1, 'OS-FLV-EXT-DATA:ephemeral': 1, 'id': '1234', 'swap': 512, 'rxtx_factor': 1, 'os-flavor-access:is_public': True}. 'name' is a required property")),
            ("name", Some(r#""\u0434\u2006\ufffd""#), None),
            ("name", Some(r#""a\n""#), None),
            ("id", Some(r#""!@#!$#!$^#&^$&""#), Some("Invalid input for field/attribute id. Value: !@#!$#!$^#&^$&. '!@#!$#!$^#&^$&' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")),
            ("id", Some(r#""   bad_id   ""#), Some("Invalid input for field/attribute id. Value:    bad_id   . '   bad_id   ' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")),
            ("id", Some(r#"true"#), Some("Invalid input for field/attribute id. Value: True. True is not of type 'string', 'number', 'null'")),
            ("id", Some(r#"1234"#), None),
            ("id", Some(r#"1.5"#), None),
            ("id", Some(r#"null"#), None),
            ("id", Some(r#""""#), Some("Invalid input for field/attribute id. Value: . '' should be non-empty")),
            ("id", None, None),
            ("id", Some(r#"["1"]"#), Some("Invalid input for field/attribute id. Value: ['1']. ['1'] is not of type 'string', 'number', 'null'")),
            ("ram", Some(r#"0"#), Some("Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1")),
            ("ram", Some(r#""0""#), Some("Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1")),
            ("ram", Some(r#"2147483647"#), None),
            ("ram", Some(r#"2147483648"#), Some("Invalid input for field/attribute ram. Value: 2147483648. 2147483648 is greater than the maximum of 2147483647")),
            ("ram", Some(r#""2147483648""#), Some("Invalid input for field/attribute ram. Value: 2147483648. 2147483648 is greater than the maximum of 2147483647")),
            ("ram", Some(r#""abc""#), Some("Invalid input for field/attribute ram. Value: abc. 'abc' does not match '^[0-9]+$'")),
            ("ram", Some(r#"1.5"#), Some("Invalid input for field/attribute ram. Value: 1.5. 1.5 is not of type 'integer', 'string'")),
            ("ram", Some(r#"512.0"#), None),
            ("ram", Some(r#"true"#), Some("Invalid input for field/attribute ram. Value: True. True is not of type 'integer', 'string'")),
            ("ram", Some(r#"null"#), Some("Invalid input for field/attribute ram. Value: None. None is not of type 'integer', 'string'")),
            ("ram", Some(r#"-1"#), Some("Invalid input for field/attribute ram. Value: -1. -1 is less than the minimum of 1")),
            ("ram", Some(r#""12\n""#), None),
            ("ram", Some(r#"1e+30"#), Some("Invalid input for field/attribute ram. Value: 1e+30. 1000000000000000019884624838656 is greater than the maximum of 2147483647")),
            ("ram", Some(r#""""#), Some("Invalid input for field/attribute ram. Value: . '' does not match '^[0-9]+$'")),
            ("ram", None, Some("Invalid input for field/attribute flavor. Value: {'name': 'test', 'vcpus': 2, 'disk': 1, 'OS-FLV-EXT-DATA:ephemeral': 1, 'id': '1234', 'swap': 512, 'rxtx_factor': 1, 'os-flavor-access:is_public': True}. 'ram' is a required property")),
            ("vcpus", None, Some("Invalid input for field/attribute flavor. Value: {'name': 'test', 'ram': 512, 'disk': 1, 'OS-FLV-EXT-DATA:ephemeral': 1, 'id': '1234', 'swap': 512, 'rxtx_factor': 1, 'os-flavor-access:is_public': True}. 'vcpus' is a required property")),
            ("vcpus", Some(r#"0"#), Some("Invalid input for field/attribute vcpus. Value: 0. 0 is less than the minimum of 1")),
            ("vcpus", Some(r#""""#), Some("Invalid input for field/attribute vcpus. Value: . '' does not match '^[0-9]+$'")),
            ("vcpus", Some(r#""1""#), None),
            ("disk", Some(r#"-1"#), Some("Invalid input for field/attribute disk. Value: -1. -1 is less than the minimum of 0")),
            ("disk", Some(r#"0"#), None),
            ("disk", Some(r#""1.0""#), Some("Invalid input for field/attribute disk. Value: 1.0. '1.0' does not match '^[0-9]+$'")),
            ("disk", None, Some("Invalid input for field/attribute flavor. Value: {'name': 'test', 'ram': 512, 'vcpus': 2, 'OS-FLV-EXT-DATA:ephemeral': 1, 'id': '1234', 'swap': 512, 'rxtx_factor': 1, 'os-flavor-access:is_public': True}. 'disk' is a required property")),
            ("disk", Some(r#"2147483648"#), Some("Invalid input for field/attribute disk. Value: 2147483648. 2147483648 is greater than the maximum of 2147483647")),
            ("OS-FLV-EXT-DATA:ephemeral", Some(r#"-1"#), Some("Invalid input for field/attribute OS-FLV-EXT-DATA:ephemeral. Value: -1. -1 is less than the minimum of 0")),
            ("OS-FLV-EXT-DATA:ephemeral", Some(r#""x""#), Some("Invalid input for field/attribute OS-FLV-EXT-DATA:ephemeral. Value: x. 'x' does not match '^[0-9]+$'")),
            ("swap", Some(r#""1.0""#), Some("Invalid input for field/attribute swap. Value: 1.0. '1.0' does not match '^[0-9]+$'")),
            ("swap", Some(r#"2147483648"#), Some("Invalid input for field/attribute swap. Value: 2147483648. 2147483648 is greater than the maximum of 2147483647")),
            ("swap", Some(r#"0"#), None),
            ("rxtx_factor", Some(r#"-1"#), Some("Invalid input for field/attribute rxtx_factor. Value: -1. -1 is less than or equal to the minimum of 0")),
            ("rxtx_factor", Some(r#"0"#), Some("Invalid input for field/attribute rxtx_factor. Value: 0. 0 is less than or equal to the minimum of 0")),
            ("rxtx_factor", Some(r#"0.0"#), Some("Invalid input for field/attribute rxtx_factor. Value: 0.0. 0.0 is less than or equal to the minimum of 0")),
            ("rxtx_factor", Some(r#"6.80564e+38"#), Some("Invalid input for field/attribute rxtx_factor. Value: 6.80564e+38. 680564000000000028384145201885945528320 is greater than the maximum of 3.40282e+38")),
            ("rxtx_factor", Some(r#"3e+38"#), None),
            ("rxtx_factor", Some(r#""1.5.2""#), Some("Invalid input for field/attribute rxtx_factor. Value: 1.5.2. '1.5.2' does not match '^[0-9]+(\\\\.[0-9]+)?$'")),
            ("rxtx_factor", Some(r#"0.5"#), None),
            ("rxtx_factor", Some(r#""0""#), None),
            ("rxtx_factor", Some(r#""0.5""#), None),
            ("rxtx_factor", Some(r#"true"#), Some("Invalid input for field/attribute rxtx_factor. Value: True. True is not of type 'number', 'string'")),
            ("rxtx_factor", Some(r#""340282000000000014192072600942972764161""#), Some("Invalid input for field/attribute rxtx_factor. Value: 340282000000000014192072600942972764161. 340282000000000014192072600942972764161 is greater than the maximum of 3.40282e+38")),
            ("os-flavor-access:is_public", Some(r#"123"#), Some("Invalid input for field/attribute os-flavor-access:is_public. Value: 123. 123 is not of type 'boolean', 'string'")),
            ("os-flavor-access:is_public", Some(r#""maybe""#), Some("Invalid input for field/attribute os-flavor-access:is_public. Value: maybe. 'maybe' is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']")),
            ("os-flavor-access:is_public", Some(r#""yes""#), None),
            ("os-flavor-access:is_public", Some(r#"false"#), None),
            ("os-flavor-access:is_public", Some(r#"null"#), Some("Invalid input for field/attribute os-flavor-access:is_public. Value: None. None is not of type 'boolean', 'string'")),
            ("description", Some(r#""x""#), Some("Invalid input for field/attribute flavor. Value: {'name': 'test', 'ram': 512, 'vcpus': 2, 'disk': 1, 'OS-FLV-EXT-DATA:ephemeral': 1, 'id': '1234', 'swap': 512, 'rxtx_factor': 1, 'os-flavor-access:is_public': True, 'description': 'x'}. Additional properties are not allowed ('description' was unexpected)")),
            ("foo", Some(r#"1"#), Some("Invalid input for field/attribute flavor. Value: {'name': 'test', 'ram': 512, 'vcpus': 2, 'disk': 1, 'OS-FLV-EXT-DATA:ephemeral': 1, 'id': '1234', 'swap': 512, 'rxtx_factor': 1, 'os-flavor-access:is_public': True, 'foo': 1}. Additional properties are not allowed ('foo' was unexpected)")),
        ]);
    }

    #[test]
    fn flavor_create_bodies() {
        check_bodies(&FLAVOR_CREATE, false, &[
            (r#"{}"#, Some("'flavor' is a required property")),
            (r#"{"flavor": {}}"#, Some("Invalid input for field/attribute flavor. Value: {}. 'name' is a required property")),
            (r#"{"flavor": []}"#, Some("Invalid input for field/attribute flavor. Value: []. [] is not of type 'object'")),
            (r#"null"#, Some("None is not of type 'object'")),
            (r#"{"flavor": null}"#, Some("Invalid input for field/attribute flavor. Value: None. None is not of type 'object'")),
            (r#"[]"#, Some("[] is not of type 'object'")),
            (r#"{"flavor": {"name": "test", "ram": 512, "vcpus": 2, "disk": 1, "OS-FLV-EXT-DATA:ephemeral": 1, "id": "1234", "swap": 512, "rxtx_factor": 1, "os-flavor-access:is_public": true}, "x": 1}"#, Some("Additional properties are not allowed ('x' was unexpected)")),
            (r#"{"flavor": {"name": "test", "ram": 512, "vcpus": 2, "disk": 1, "OS-FLV-EXT-DATA:ephemeral": 1, "id": "1234", "swap": 512, "rxtx_factor": 1, "os-flavor-access:is_public": true}, "y": 1, "x": 1}"#, Some("Additional properties are not allowed ('x', 'y' were unexpected)")),
            (r#"{"flavor": {"name": " ", "ram": 0}}"#, Some("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")),
            (r#"{"flavor": {"ram": 0}}"#, Some("Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1")),
            (r#"{"flavor": {"ram": 0, "vcpus": 0, "name": "x"}}"#, Some("Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1")),
            (r#"{"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0}}"#, None),
            (r#"{"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "extra": 1}}"#, Some("Invalid input for field/attribute flavor. Value: {'name': 'x', 'ram': 1, 'vcpus': 1, 'disk': 0, 'extra': 1}. Additional properties are not allowed ('extra' was unexpected)")),
            (r#"{"flavor": {"name": "x", "ram": 1, "ram": 0, "vcpus": 1, "disk": 0}}"#, Some("Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1")),
            (r#"{"flavor": {"name": "x", "ram": 0, "ram": 1, "vcpus": 1, "disk": 0}}"#, None),
        ]);
    }

    #[test]
    fn flavor_create_v255_description() {
        check_flavor_fields(&FLAVOR_CREATE_V255, false, &[
            ("description", Some(r#"null"#), None),
            ("description", Some(r#""test description""#), None),
            ("description", Some(r#"1"#), Some("Invalid input for field/attribute description. Value: 1. 1 is not of type 'string', 'null'")),
            ("description", Some(r#""a\n""#), None),
            ("description", Some(r#""""#), None),
            ("description", Some(r#""\u00e9\u00a0""#), None),
        ]);
    }

    #[test]
    fn legacy_v2_flavor_create_ignores_unknown_members() {
        check_flavor_fields(&FLAVOR_CREATE_V20, true, &[
            ("name", Some(r#""  test  ""#), None),
            ("foo", Some(r#"1"#), None),
            ("name", Some(r#"" ""#), Some("An invalid 'name' value was provided. The name must be: printable characters with at least one non space character")),
            ("name", Some(r#""""#), Some("An invalid 'name' value was provided. The name must be: printable characters with at least one non space character")),
            ("ram", Some(r#"0"#), Some("Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1")),
            ("name", Some(r#""\u00a0""#), Some("An invalid 'name' value was provided. The name must be: printable characters with at least one non space character")),
        ]);
        check_bodies(&FLAVOR_CREATE_V20, true, &[
            (r#"{"flavor": {"foo": 1}}"#, Some("Invalid input for field/attribute flavor. Value: {'foo': 1}. 'name' is a required property")),
            (r#"{"x": 1}"#, Some("'flavor' is a required property")),
            (r#"{"flavor": {"name": "test", "ram": 512, "vcpus": 2, "disk": 1, "OS-FLV-EXT-DATA:ephemeral": 1, "id": "1234", "swap": 512, "rxtx_factor": 1, "os-flavor-access:is_public": true}, "x": 1}"#, None),
        ]);
    }

    #[test]
    fn legacy_v2_is_relaxed_except_pattern_properties() {
        check_bodies(&PROBE, true, &[
            (r#"{"obj": {"a": 1, "b": 2, "c": 3}}"#, None),
            (r#"{"meta": {"a!": "x", "ok": "y"}}"#, Some("Invalid input for field/attribute meta. Value: {'a!': 'x', 'ok': 'y'}. Additional properties are not allowed ('a!' was unexpected)")),
            (r#"{"meta": {"a!": "x"}}"#, None),
            (r#"{"str": 1}"#, Some("Invalid input for field/attribute str. Value: 1. 1 is not of type 'string'")),
            (r#"{"unknown": 1}"#, None),
            (r#"{"unknown": 1, "str": 1}"#, Some("Invalid input for field/attribute str. Value: 1. 1 is not of type 'string'")),
            (r#"{"unknown": 1, "str": "x"}"#, None),
            (r#"{"obj": {"c": 3}}"#, Some("Invalid input for field/attribute obj. Value: {'c': 3}. 'a' is a required property")),
        ]);
    }

    #[test]
    fn server_metadata() {
        check_bodies(&SERVER_METADATA, false, &[
            (r#"{"metadata": {"a": "b"}}"#, None),
            (r#"{"metadata": {"a!": "b"}}"#, Some("Invalid input for field/attribute metadata. Value: {'a!': 'b'}. 'a!' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'")),
            (r#"{"metadata": {"a": 1}}"#, Some("Invalid input for field/attribute a. Value: 1. 1 is not of type 'string'")),
            (r#"{}"#, Some("'metadata' is a required property")),
            (r#"{"metadata": null}"#, Some("Invalid input for field/attribute metadata. Value: None. None is not of type 'object'")),
        ]);
    }

    #[test]
    fn query_parameters_are_lists_named_by_the_first_path_element() {
        check_queries(&FLAVOR_INDEX_V275, false, &[
            (&[("limit", "abc")], Some("Invalid input for query parameters limit. Value: abc. 'abc' does not match '^[0-9]*$'")),
            (&[("limit", "")], Some("Invalid input for query parameters limit. Value: . '' should be non-empty")),
            (&[("limit", "1"), ("limit", "x")], Some("Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'")),
            (&[("limit", "5")], None),
            (&[("sort_dir", "up")], Some("Invalid input for query parameters sort_dir. Value: up. 'up' is not one of ['asc', 'desc']")),
            (&[("sort_key", "bogus")], Some("Invalid input for query parameters sort_key. Value: bogus. 'bogus' is not one of ['created_at', 'description', 'disabled', 'ephemeral_gb', 'flavorid', 'id', 'is_public', 'memory_mb', 'name', 'root_gb', 'rxtx_factor', 'swap', 'updated_at', 'vcpu_weight', 'vcpus']")),
            (&[("foo", "1")], Some("Additional properties are not allowed ('foo' was unexpected)")),
            (&[("foo", "1"), ("bar", "2")], Some("Additional properties are not allowed ('bar', 'foo' were unexpected)")),
            (&[("limit", "1"), ("bar", "2"), ("bar", "3")], Some("Additional properties are not allowed ('bar' was unexpected)")),
            (&[("minRam", "x"), ("limit", "-1")], Some("Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'")),
            (&[("limit", "12\u{a}")], None),
        ]);
        check_queries(&FLAVOR_INDEX, false, &[
            (&[("foo", "1")], None),
            (&[("limit", "x"), ("foo", "1")], Some("Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'")),
        ]);
        check_queries(&SINGLE, false, &[
            (&[("marker", "a"), ("marker", "b")], Some("Invalid input for query parameters marker. Value: ['a', 'b']. ['a', 'b'] is too long")),
            (&[("marker", "a")], None),
            (&[("x", "a")], Some("Additional properties are not allowed ('x' was unexpected)")),
        ]);
        check_queries(&FLAVOR_INDEX_V275, true, &[
            (&[("foo", "1"), ("limit", "1")], None),
            (&[("foo", "1")], None),
            (&[("limit", "x")], Some("Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'")),
        ]);
    }

    #[test]
    fn long_values() {
        let a = "a".repeat(256);
        let too_long = |field: &str, text: &str| {
            format!(
                "Invalid input for field/attribute {field}. Value: {text}. '{text}' is too long"
            )
        };
        let nines = "9".repeat(50);
        let cases = [
            (format!(r#"{{"name": "{a}"}}"#), too_long("name", &a)),
            (format!(r#"{{"name": "{}"}}"#, " ".repeat(300)), INVALID_NAME.to_owned()),
            (
                format!(r#"{{"min": "{}"}}"#, "0".repeat(4301)),
                format!(
                    "Invalid input for field/attribute min. Value: {}. 0.0 is less than the \
                     minimum of 1",
                    "0".repeat(4301)
                ),
            ),
            (
                format!(r#"{{"min": "-{nines}"}}"#),
                format!(
                    "Invalid input for field/attribute min. Value: -{nines}. -{nines} is less \
                     than the minimum of 1"
                ),
            ),
            (
                format!(r#"{{"max": "{}"}}"#, "9".repeat(5000)),
                format!(
                    "Invalid input for field/attribute max. Value: {}. inf is greater than the \
                     maximum of 10",
                    "9".repeat(5000)
                ),
            ),
            (
                format!(r#"{{"max": "{nines}"}}"#),
                format!(
                    "Invalid input for field/attribute max. Value: {nines}. {nines} is greater \
                     than the maximum of 10"
                ),
            ),
            (
                r#"{"max": 1e300}"#.to_owned(),
                format!(
                    "Invalid input for field/attribute max. Value: 1e+300. {} is greater than \
                     the maximum of 10",
                    "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160"
                ),
            ),
            (
                format!(r#"{{"meta": {{"k": "{}"}}}}"#, "x".repeat(256)),
                too_long("k", &"x".repeat(256)),
            ),
            (
                format!(r#"{{"meta": {{"{}": "v"}}}}"#, "k".repeat(256)),
                format!(
                    "Invalid input for field/attribute meta. Value: {{'{k}': 'v'}}. '{k}' does \
                     not match any of the regexes: '^[a-zA-Z0-9-_:. ]{{1,255}}$'",
                    k = "k".repeat(256)
                ),
            ),
            (format!(r#"{{"desc": "{}"}}"#, "x".repeat(256)), too_long("desc", &"x".repeat(256))),
        ];
        for (json, expected) in cases {
            assert_eq!(
                run(&PROBE, &json, false).as_deref(),
                Some(expected.as_str())
            );
        }
        let quoted = |text: &str| format!("\"{text}\"");
        let x = "x".repeat(65536);
        let flavor_cases = [
            (FLAVOR_CREATE, "name", quoted(&a), too_long("name", &a)),
            (FLAVOR_CREATE, "id", quoted(&a), too_long("id", &a)),
            (
                FLAVOR_CREATE_V255,
                "description",
                quoted(&x),
                too_long("description", &x),
            ),
        ];
        for (schema, field, value, expected) in flavor_cases {
            let body = flavor_body(field, Some(&value));
            assert_eq!(
                run(&schema, &body, false).as_deref(),
                Some(expected.as_str())
            );
        }
    }

    /// FNV-1a, to compare a multi-kilobyte message byte for byte with a recorded digest.
    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    #[test]
    fn description_pattern_is_novas_generated_regex() {
        let regex = Pattern::PRINTABLE.regex();
        assert!(
            regex.starts_with("^[\\ -\\~\u{a0}-\u{ac}\u{ae}-\u{377}"),
            "{regex:.40}"
        );
        assert!(regex.ends_with("\u{ffe8}-\u{ffee}\u{fffc}-\u{fffd}]*$"));
        assert_eq!(
            (regex.len(), fnv1a(regex.as_bytes())),
            (2256, 0x769f0d8b40bcf824)
        );
        let body = flavor_body("description", Some(r#""a\u0001""#));
        let message = run(&FLAVOR_CREATE_V255, &body, false).unwrap_or_default();
        assert!(message.starts_with(
            "Invalid input for field/attribute description. Value: a\u{1}. 'a\\x01' does not \
             match '^[\\\\ -\\\\~\\xa0-\u{ac}\u{ae}-\u{377}"
        ));
        assert_eq!(
            (message.len(), fnv1a(message.as_bytes())),
            (2358, 0x1d099bbc1e298ae)
        );
    }

    #[test]
    fn legacy_pattern_properties_list_unexpected_keys_sorted() {
        // Nova lists them in set order, which varies from process to process.
        let got = run(
            &PROBE,
            r#"{"meta": {"b!": "x", "a!": "y", "ok": "z"}}"#,
            true,
        );
        assert_eq!(
            got.as_deref(),
            Some(
                "Invalid input for field/attribute meta. Value: {'b!': 'x', 'a!': 'y', 'ok': \
                 'z'}. Additional properties are not allowed ('a!', 'b!' were unexpected)"
            )
        );
    }

    #[test]
    fn floats_print_like_python_repr() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0.0"),
            (0x8000000000000000, "-0.0"),
            (0x3ff8000000000000, "1.5"),
            (0x4341c37937e08000, "1e+16"),
            (0x430c6bf526340000, "1000000000000000.0"),
            (0x3ee4f8b588e368f1, "1e-05"),
            (0x3f1a36e2eb1c432d, "0.0001"),
            (0x3f1a36e2eb1c432c, "9.999999999999999e-05"),
            (0x4480f0cf064dd592, "1e+22"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x4340000000000000, "9007199254740992.0"),
            (0x3fd3333333333334, "0.30000000000000004"),
            (0x0010000000000000, "2.2250738585072014e-308"),
            (0x0000000000000001, "5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0x419d6f34547e6b75, "123456789.12345679"),
            (0x4341c37937e07fff, "9999999999999998.0"),
            (0x43e56a95319d63e1, "1.2345678901234567e+19"),
            (0x47effffdbd19d02c, "3.40282e+38"),
            (0xbe80c6f7a0b5ed8d, "-1.25e-07"),
            (0x4059000000000000, "100.0"),
            (0x43118b54f22aeb03, "1234567890123456.8"),
            (0x3fe0000000000000, "0.5"),
            (0x3efa36e2eb1c432d, "2.5e-05"),
            (0x3fd5555555555555, "0.3333333333333333"),
            (0x3fe5555555555555, "0.6666666666666666"),
            (0x44dfe185ca57c517, "6.02214076e+23"),
            (0xc08edd3c0ca600b0, "-987.654321"),
        ];
        for &(bits, expected) in cases {
            let mut out = String::new();
            push_float(&mut out, f64::from_bits(bits));
            assert_eq!(out, expected, "{bits:#x}");
        }
    }

    #[test]
    fn integral_floats_print_every_digit() {
        let cases: &[(u64, &str)] = &[
        (0x46293e5939a08cea, "1000000000000000019884624838656"),
        (0x47fffffdbd19d02c, "680564000000000028384145201885945528320"),
        (0x7fefffffffffffff, "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368"),
        (0x47e0000000000000, "170141183460469231731687303715884105728"),
        (0x4340000000000001, "9007199254740994"),
        (0x7e37e43c8800759c, "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160"),
        (0x405ec00000000000, "123"),
        ];
        for &(bits, expected) in cases {
            assert_eq!(integral_digits(f64::from_bits(bits)), expected, "{bits:#x}");
        }
    }

    #[test]
    fn deep_values_are_cut_not_overflowed() {
        let depth = 1000;
        let json = format!(r#"{{"str": {}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        let message = run(&PROBE, &json, false).unwrap_or_default();
        let cut = format!(
            "{}[...]{}",
            "[".repeat(MAX_RENDER_DEPTH),
            "]".repeat(MAX_RENDER_DEPTH)
        );
        assert_eq!(
            message,
            format!("Invalid input for field/attribute str. Value: {cut}. {cut} is not of type 'string'")
        );
    }

    #[test]
    fn large_objects_are_hashed_but_still_checked() {
        let members: Vec<String> = (0..40)
            .map(|index| format!(r#""x{index}": {index}"#))
            .collect();
        let json = format!(r#"{{"a": 1, {}}}"#, members.join(", "));
        let mut names: Vec<String> = (0..40).map(|index| format!("'x{index}'")).collect();
        names.sort();
        let expected = format!(
            "Additional properties are not allowed ({} were unexpected)",
            names.join(", ")
        );
        assert_eq!(run(&ROOT, &json, false), Some(expected));
        // Past simd-json's small-object limit repeated keys are collapsed: the last one wins.
        let json = format!(r#"{{"str": 1, {}, "str": "ok"}}"#, members.join(", "));
        let schema = Schema::new(&[Keyword::Properties(&[("str", pt::STRING)])]);
        assert_eq!(run(&schema, &json, false), None);
    }

    #[test]
    fn extreme_numbers_do_not_panic() {
        for json in [
            r#"{"max": 1.7976931348623157e308}"#,
            r#"{"min": -1.7976931348623157e308}"#,
            r#"{"fmax": -1.7976931348623157e308}"#,
            r#"{"limits": 1.7976931348623157e308}"#,
            r#"{"limits": 5e-324}"#,
            r#"{"min": -9223372036854775808}"#,
            r#"{"max": 18446744073709551615}"#,
            r#"{"quota": "-170141183460469231731687303715884105728"}"#,
            r#"{"quota": "170141183460469231731687303715884105728"}"#,
            r#"{"min": "-1e999"}"#,
        ] {
            let _ = run(&PROBE, json, false);
        }
        let message = run(&PROBE, r#"{"limits": 1.7976931348623157e308}"#, false);
        assert!(message
            .is_some_and(|m| m.ends_with("858368 is greater than the maximum of 3.40282e+38")));
    }

    #[test]
    fn uuid_like_follows_oslo() {
        for (text, ok) in [
            ("70a599e0-31e7-49b7-b260-868f441e862b", true),
            ("70A599E031E749B7B260868F441E862B", true),
            ("{70a599e0-31e7-49b7-b260-868f441e862b}", true),
            ("urn:uuid:70a599e0-31e7-49b7-b260-868f441e862b", true),
            ("70a599e0-31e7-49b7-b260-868f441e862", false),
            ("70a599e0_31e7_49b7_b260_868f441e862b", false),
            ("+0a599e031e749b7b260868f441e862b", false),
            ("70a599e031e749b7b260868f441e862\u{663}", false),
            ("", false),
        ] {
            assert_eq!(is_uuid_like(text), ok, "{text}");
        }
    }

    #[test]
    fn python_number_parsing() {
        assert_eq!(py_int(" 1_000 "), Some(Number::Int(1000)));
        assert_eq!(py_int("-0"), Some(Number::Int(0)));
        assert_eq!(py_int("1_"), None);
        assert_eq!(py_int("0x10"), None);
        assert_eq!(py_int("\u{1c}7\u{1f}"), Some(Number::Int(7)));
        assert_eq!(
            py_int("-170141183460469231731687303715884105729"),
            Some(Number::Big {
                negative: true,
                digits: "170141183460469231731687303715884105729".into()
            })
        );
        assert_eq!(py_float("1_0.2_5e1_0"), Some(10.25e10));
        assert_eq!(py_float("  -Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(py_float("1e"), None);
        assert_eq!(py_float("."), None);
        assert_eq!(py_float("1._5"), None);
        assert!(py_float("nan").is_some_and(f64::is_nan));
    }

    #[test]
    fn patterns_see_python_dollar() {
        for (pattern, text, ok) in [
            (Pattern::DIGITS, "12\n", true),
            (Pattern::DIGITS, "\n", false),
            (Pattern::DIGITS_OR_EMPTY, "\n", true),
            (Pattern::SIGNED_DIGITS, "-1\n", true),
            (Pattern::SIGNED_DIGITS, "-", false),
            (Pattern::DECIMAL, "1.5\n", true),
            (Pattern::DECIMAL, "1.", false),
            (Pattern::DECIMAL, ".5", false),
            (Pattern::FLAVOR_ID, "a b\n", true),
            (Pattern::FLAVOR_ID, "a \n", false),
            (Pattern::KEYPAIR_NAME, "my-key_1 x", true),
            (Pattern::KEYPAIR_NAME, "my.key", false),
            (Pattern::METADATA_KEY, &"k".repeat(255), true),
            (Pattern::METADATA_KEY, &"k".repeat(256), false),
            (Pattern::PROJECT_ID, "", true),
            (Pattern::PROJECT_ID, "a_b", false),
            (Pattern::PRINTABLE, "tab\there", false),
            (Pattern::PRINTABLE, "caf\u{e9}\u{3000}", true),
            (Pattern::PRINTABLE, "\u{1f600}", false),
        ] {
            assert_eq!(pattern.is_match(text), ok, "{pattern:?} {text:?}");
        }
    }
}
