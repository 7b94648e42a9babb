//! The docs state exactly the statuses and error codes the code can answer (the `contract`
//! constants): in docs/contract.md's summary table and in the crate README's error table.

bundle_testkit::contract_documented_test!("datastore-proxy", datastore_proxy::contract);
