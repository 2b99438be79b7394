// Package template reads approved query templates written in YAML, encodes
// them canonically for approval signatures, and binds the parameters an
// analyst supplies at run time to typed values. The template model and its
// policy checks live in the domain package (cleanroom.Template,
// cleanroom.CheckTemplate); see DESIGN.md, "Approved query templates".
//
// # The YAML format
//
// A template is one YAML document:
//
//	name: spend-by-tier            # the template's name in the room
//	version: 1                     # optional, default 1; a change is a new version
//	question: What do our subscribers spend per month at the bank, by tier?
//	join: [subscribers, customers] # datasets joined on the matched person
//	parameters:                    # values an analyst binds at run time
//	  behaviour: {type: enum, values: [on_time, late]}
//	  since: {type: date, min: 2015-01-01, max: 2030-12-31}
//	  defaulted: {type: bool}
//	where:                         # conditions that all hold
//	  - subscribers.payment_behaviour = $behaviour
//	  - subscribers.signup_date >= $since
//	  - customers.default_flag = $defaulted
//	  - subscribers.tier in [standard, premium]
//	group_by:
//	  - subscribers.tier                            # the declared public domain
//	  - subscribers.payment_behaviour: {categories: [on_time, late]}
//	metrics:
//	  - people: count_distinct_person
//	  - spend: {sum: customers.monthly_spend, clamp: [0, 20000]}
//	  - avg_spend: {avg: customers.monthly_spend}   # clamp defaults to the column's
//	controls:
//	  min_group_size: 100          # optional, default 100; never below 100
//	  rho: 0.05                    # or epsilon: 1.0 (Laplace noise), exactly one
//	  max_groups_per_person: 1     # optional, default 1 (L0)
//	  coarsen: 10                  # optional: round released values to a step of 10
//	  review_by: [bank]            # optional: parties that approve each result
//	  receivers: [operator]        # parties results are sealed to
//
// Columns are written <dataset>.<column>, with the name of a dataset in the
// room. Parameters have a type: enum (with values), int and decimal (with
// min and max, required), date (YYYY-MM-DD, min and max optional) and bool.
// A where condition is "<column> <op> <value>" with op one of =, !=, <,
// <=, >, >= and in; the value is a $parameter, a literal written in the
// column's type (premium, 42, 12.50, 2024-03-31, true), a literal in double
// or single quotes (for text with surrounding spaces or a leading '$'), or
// for "in" a list of literals in brackets. A group_by entry is a column, or
// a column mapped to {buckets: [...]} (a coarser subset of an int or
// decimal dimension's declared edges) or {categories: [...]} (a subset of a
// string dimension's declared categories). A metric is "name: kind" with
// kind count_distinct_person, or "name: {sum|avg: <column>, clamp: [lo,
// hi]}" with an optional clamp within the column's declared one.
//
// Parse is strict: unknown fields, repeated fields, values of the wrong
// type, anchors and aliases, and more than one document are errors, given
// with their line. A parsed template satisfies Template.Validate; whether
// it fits the room's schemas and column policies is CheckTemplate's to say.
//
// # Canonical encoding
//
// Canonical is the RFC 8785 (JSON Canonicalization Scheme) encoding of the
// template's JSON form, so it depends on neither the YAML's key order nor
// its layout; Digest is the hex SHA-256 of it, the value each reader's
// Ed25519 approval signs. The lifecycle state (cleanroom.TemplateRecord) is
// not part of it.
//
// # Binding
//
// Bind parses each value an analyst supplies by its parameter's type into a
// cleanroom.Value: an enum value must be one of the declared values, a
// number an integer or decimal within the bounds, a date a YYYY-MM-DD day
// within them, a bool true or false. Anything else, SQL text included, is
// rejected, and the engine passes bound values to the query as parameters,
// never as text.
package template
