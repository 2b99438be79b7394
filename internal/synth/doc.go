// Package synth generates deterministic synthetic data for trying Cleanroom
// end to end: a telecom operator's subscribers, a bank's customers, an
// advertiser's (a retailer's) shoppers, the ad exposures of the
// advertiser's campaigns on the operator's channels and the advertiser's
// conversions, with the true overlap of each partner with the operator
// written beside the data.
//
// # Using it
//
// From the command line:
//
//	cleanroom synth --out ./data --seed 7 --subscribers 100000 --customers 50000 --overlap 0.6
//
// or from Go:
//
//	cfg := synth.DefaultConfig()
//	cfg.Subscribers = 10000
//	truth, err := synth.Generate(ctx, cfg, "./data", nil)
//
// The same Config gives byte-identical files on every run: every random
// choice comes from math/rand/v2's PCG seeded from Config.Seed and the
// person or row it is about, never from the clock or map order.
//
// # What is written
//
// In the output directory, as CSV, Parquet or both (Config.Format):
//
//   - operator_subscribers: subscriber_id, phone, email, device_id, tier,
//     region, arpu, data_usage_gb, app_categories (";"-separated),
//     payment_behaviour, signup_date.
//   - bank_customers: customer_id, phone, email, products (";"-separated,
//     from mortgage, credit_card, deposit, personal_loan), balance,
//     spend_groceries, spend_travel, spend_electronics, spend_entertainment,
//     monthly_spend, default_flag.
//   - advertiser_shoppers: shopper_id, phone, email, loyalty_tier (bronze,
//     silver, gold), member_since: the members of the advertiser's loyalty
//     programme. As many as bank customers (Config.Customers), with the
//     same share of subscribers (Config.Overlap), drawn independently of
//     the bank's.
//   - ad_exposures: exposure_id, device_id or (for SMS) phone of the
//     subscriber, campaign, channel, exposed_at, holdout. The operator runs
//     the advertiser's campaigns, each promoting one of its products
//     (smartphone, laptop, headphones, smartwatch) and reaching a share of
//     subscribers (Config.Reach); a share of those
//     (Config.HoldoutShare) is held out, and their would-be exposures are
//     logged with holdout=true (ghost ads), so lift is measured by intention
//     to treat. Ad systems log the true device ID or phone, in their own
//     formats and without typos; an exposure links to the subscriber's row
//     only where the operator holds that identifier correctly.
//   - conversions: conversion_id, email or phone of the shopper, product,
//     converted_at, amount: the shoppers' purchases of advertised products,
//     sorted by time.
//   - truth.json: the config, row counts, the true overlap per identifier
//     class with how many pairs were lost to typos, junk and missing values,
//     the junk values, the campaigns and the planted effects with their
//     realised figures (see Truth).
//   - truth_pairs.csv: subscriber_id, customer_id, matching_classes and the
//     status of each class for every person who is both a subscriber and a
//     bank customer; truth_shopper_pairs.csv likewise, with shopper_id, for
//     every person who is both a subscriber and a shopper.
//
// # How identifiers are made messy
//
// Every person has one canonical phone (a valid mobile number of
// Config.Country, unique per person), email (unique per person) and device
// ID. The parties write them differently: the operator writes phones the
// way a telecom stores MSISDNs (79123456789, +7 912 345-67-89, 7 912 3456789),
// the bank and the advertiser the way forms collect them (8 (912) 345-67-89,
// 9123456789, +7(912)345-67-89); emails carry random case, stray whitespace,
// and for gmail.com and googlemail.com addresses moved dots and +tags; device
// IDs are UUIDs in upper or lower case, with or without braces. Normalising phones
// to E.164 with the country, emails by trimming, lower-casing and applying
// the gmail rules, and device IDs to lower case without braces recovers the
// canonical value.
//
// A share of identifiers (Config.TypoRate) carries a typo that makes it
// normalise to a value nobody else has, or to nothing valid; a share
// (Config.JunkRate) is a junk value shared by many rows ("n/a",
// "0000000000", "test@test.com", the all-zero device ID), listed in
// truth.json; operators lack many emails and some device IDs, and some bank
// customers and shoppers have only a phone or only an email. Typo values
// never collide with any other value, so a subscriber's row and a
// partner's share a normalised non-junk identifier exactly when
// truth_pairs.csv or truth_shopper_pairs.csv says so. A matcher that spots
// junk by frequency (more than 50 rows) finds it only in data large enough,
// some 10,000 rows per dataset at the default rate.
//
// # Planted effects
//
//   - Lift: a shopper who is a subscriber reached by a campaign and not held
//     out buys the campaign's product with probability
//     BaseConversionRate + Lift, every other shopper with
//     BaseConversionRate.
//   - Look-alike: bank product holding depends on operator features
//     (premium tier and mortgages, shopping apps and credit cards, finance
//     apps and deposits, basic tier and personal loans).
//   - Credit risk: P(default) = 0.02 + 0.08·[payment_behaviour = late] +
//     0.04·[arpu < 400].
//
// truth.json states each effect as planted and as realised among the
// persons in both the operator's and the partner's data.
//
// # Scale
//
// Rows are streamed to buffered writers; the exposures are written on a
// second goroutine while the subscribers, customers and shoppers are. Memory grows
// with the number of persons (a few bytes each), typo values and
// conversions (held to sort them by time), not with exposures; Parquet
// output also buffers one row group (131072 rows) per dataset. A million
// subscribers take seconds; see BENCHMARKS.md.
package synth
