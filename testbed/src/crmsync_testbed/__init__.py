"""crmsync's local test bed: what the tests, the benchmarks and the demo run against.

Not part of the operator (the ``crmsync-operator`` distribution and its image hold none of
it): local Zoho CRM, Zoho Campaigns and Mailchimp servers with their fake data
(:mod:`crmsync_testbed.sim`), Dovecot as a local IMAP server and the demo's set-up, and a
real local kube-apiserver + etcd (:mod:`crmsync_testbed.controlplane`). Its commands plug
into ``crmsync`` as ``crmsync sim …`` and ``crmsync controlplane …``
(:mod:`crmsync_testbed.cli`).
"""
