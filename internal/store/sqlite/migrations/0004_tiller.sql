-- 0004: Helm 2 (Tiller) settings of a cluster.
-- tiller_namespace is where Tiller runs ('' for helm3 clusters; the store fills in no default), tiller_address an
-- explicit host:port of its gRPC endpoint ('' means port-forward to the Tiller pod), and installed_sw is 1 when
-- kdu installed Tiller itself at registration, so that a reset may remove it.
-- Every new column has a default, so clusters stored before this step stay valid.

ALTER TABLE clusters ADD COLUMN tiller_namespace TEXT NOT NULL DEFAULT '';
ALTER TABLE clusters ADD COLUMN tiller_address TEXT NOT NULL DEFAULT '';
ALTER TABLE clusters ADD COLUMN installed_sw INTEGER NOT NULL DEFAULT 0 CHECK (installed_sw IN (0, 1));
