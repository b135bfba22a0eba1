-- 0004: Helm 2 (Tiller) settings of a cluster (PostgreSQL dialect of store/sqlite's 0004).
-- tiller_namespace is where Tiller runs ('' for helm3 clusters; the store fills in no default), tiller_address an
-- explicit host:port of its gRPC endpoint ('' means port-forward to the Tiller pod), and installed_sw is TRUE when
-- kdu installed Tiller itself at registration, so that a reset may remove it.
-- Every new column has a default, so clusters stored before this step stay valid.

ALTER TABLE clusters
	ADD COLUMN tiller_namespace TEXT    NOT NULL DEFAULT '',
	ADD COLUMN tiller_address   TEXT    NOT NULL DEFAULT '',
	ADD COLUMN installed_sw     BOOLEAN NOT NULL DEFAULT FALSE;
