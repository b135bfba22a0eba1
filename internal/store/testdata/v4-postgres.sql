--
-- PostgreSQL database dump
--

\restrict 7rYpzYhD3DjQ2AbowIfaVeveIGBuu1SX8Nd7OvkEOoRPQa5OjJZpHbeP4QG2HUV

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: clusters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.clusters (
    id text NOT NULL COLLATE pg_catalog."C",
    kubeconfig_enc bytea NOT NULL,
    context text DEFAULT ''::text NOT NULL,
    namespace text DEFAULT ''::text NOT NULL,
    flavour text DEFAULT 'helm3'::text NOT NULL,
    server text DEFAULT ''::text NOT NULL,
    version text DEFAULT ''::text NOT NULL,
    project text DEFAULT ''::text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    tiller_namespace text DEFAULT ''::text NOT NULL,
    tiller_address text DEFAULT ''::text NOT NULL,
    installed_sw boolean DEFAULT false NOT NULL
);


--
-- Name: operations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.operations (
    id text NOT NULL COLLATE pg_catalog."C",
    kind text NOT NULL,
    project text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C",
    cluster_id text NOT NULL COLLATE pg_catalog."C",
    namespace text DEFAULT ''::text NOT NULL,
    release_name text NOT NULL COLLATE pg_catalog."C",
    state text NOT NULL,
    request_enc bytea,
    targets_enc bytea,
    progress bytea,
    result bytea,
    revision bigint DEFAULT 0 NOT NULL,
    error_code text DEFAULT ''::text NOT NULL,
    error_message text DEFAULT ''::text NOT NULL,
    error_field text DEFAULT ''::text NOT NULL,
    idempotency_key text DEFAULT ''::text NOT NULL COLLATE pg_catalog."C",
    request_hash text DEFAULT ''::text NOT NULL,
    owner text DEFAULT ''::text NOT NULL,
    lease_until bigint,
    cancel_requested boolean DEFAULT false NOT NULL,
    attempts bigint DEFAULT 0 NOT NULL,
    version bigint NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    CONSTRAINT operations_state_check CHECK ((state = ANY (ARRAY['queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text, 'cancelled'::text])))
);


--
-- Name: project_repos; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.project_repos (
    project text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    url text DEFAULT ''::text NOT NULL,
    type text DEFAULT 'http'::text NOT NULL,
    username text DEFAULT ''::text NOT NULL,
    password_enc bytea,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    ext_id text DEFAULT ''::text NOT NULL,
    ca_cert bytea,
    cert bytea,
    key_enc bytea,
    keyring bytea,
    insecure_skip_verify boolean DEFAULT false NOT NULL,
    pass_credentials boolean DEFAULT false NOT NULL,
    plain_http boolean DEFAULT false NOT NULL
);


--
-- Name: repos; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.repos (
    cluster_id text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    url text DEFAULT ''::text NOT NULL,
    type text DEFAULT 'http'::text NOT NULL,
    username text DEFAULT ''::text NOT NULL,
    password_enc bytea,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    ext_id text DEFAULT ''::text NOT NULL,
    ca_cert bytea,
    cert bytea,
    key_enc bytea,
    keyring bytea,
    insecure_skip_verify boolean DEFAULT false NOT NULL,
    pass_credentials boolean DEFAULT false NOT NULL,
    plain_http boolean DEFAULT false NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version bigint NOT NULL,
    applied_at bigint NOT NULL
);


--
-- Data for Name: clusters; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.clusters (id, kubeconfig_enc, context, namespace, flavour, server, version, project, created_at, updated_at, tiller_namespace, tiller_address, installed_sw) VALUES ('h2-legacy', '\x019060bf5e1632b396102645280209cfc524701652c813248f124db13080d44619a7fcaab2b212dd24549f4e38ffc5a9980843b349567d859542c91a5343390cbbde8e6648648ec3623a19466ef91cc9255cb1db8e71d68eb60074828f1370d6223c1d7c250cab2c6b0456a564bec0a813a278083bbb5fd378b56d1656e19c44ab5e4941c19e02f64c719b80cbd5a982ddc32bb886d9f001de94360925a2f6767409b4ae61bff05fbb87f62418aab3f1122a48c59802fd02e3d5ac13b795b5bb42e4daac418c0584adca0ef1741deeae3799f59433499114b7d5ab331994a2e74a053910eff24c1de2', 'legacy', 'default', 'helm2', 'https://h2-legacy.example:6443', 'v1.20.15', 'proj-a', 1796391333848461, 1796391333848461, 'kube-system', '10.0.0.7:44134', true);
INSERT INTO public.clusters (id, kubeconfig_enc, context, namespace, flavour, server, version, project, created_at, updated_at, tiller_namespace, tiller_address, installed_sw) VALUES ('h2-portfwd', '\x01d2780b196d9d107d4eeb0c1c86e509f3b68ea0c44d0cc4f11a2fbe108fd91bb791e8ee73f9a391009fa8b09d731d564bf4a44c3b6c725a8adc42e6a161df23aef095ea26082a3a07724650264e516d3c1f792e3b98f4c34ddab4c93d9695413ecf1cbd7cfb5a98175abd2ff05780a8cfcb8e9f7fc74e536244aa696b226085118a62b21543ee9bddad8f233738b026aab7fcf58f8be91c683e87d57bbac604227d6eedc48c02272cdf8eecbe64ce695010fad7644a1ca5c73aec0b652989d8c8991b145d2af4cca346aeb4d89dcde201ff298177c91dd3b6cfd9d6323b71dde4290af923751efdfec7fe8859', '', '', 'helm2', 'https://h2-portfwd.example:6443', 'v1.21.0', 'proj-b', 1796391333856572, 1796391333856572, 'tiller', '', false);
INSERT INTO public.clusters (id, kubeconfig_enc, context, namespace, flavour, server, version, project, created_at, updated_at, tiller_namespace, tiller_address, installed_sw) VALUES ('bare', '\x010a0e0dd9e9365fa1cc59e98ecdb66d2f304f10c812b43c3bb95ae761', '', '', 'helm3', '', '', '', 1796391333860653, 1796391333860653, '', '', false);
INSERT INTO public.clusters (id, kubeconfig_enc, context, namespace, flavour, server, version, project, created_at, updated_at, tiller_namespace, tiller_address, installed_sw) VALUES ('odd id ünï/''x''', '\x012fc8098f79118f3354d357ed67a9f450390993e3c87001dce05507e053ac47e04e', '', 'ns-''; DROP TABLE clusters; --', 'helm2', '', '', 'proj-b', 1796391333869027, 1796391333869027, '', '[fe80::1%eth0]:44134', false);
INSERT INTO public.clusters (id, kubeconfig_enc, context, namespace, flavour, server, version, project, created_at, updated_at, tiller_namespace, tiller_address, installed_sw) VALUES ('h3-prod', '\x018fa180a7d84570878114dcf762166db34a61c2136417b692076d67e28307ea2368daa0a5dcded2ec58b9afef3193004f1b7f8aaf38f58c42304c1955808a41d25ca79bd4fe0ae95e18f9a8944b34a9cb176c9ed63fc106b34fd03cd76dfef82cc7343d54884062e6905bfbc088928912b321cb18e1099201857e70fc843b0d7434edb02d4bb1ce48f4f3e7f14070384e4d3279ef8ad2ffc35a9872c6e04de9b6a2863cb1558cc847ccb0b8d9915ad25ae853e06bc830aa4627d99451c0161f81e34c130fff8a39e3efc21785d30fe4e079f2d1e893b384d56b8427b9d82ff746', 'prod-admin', 'apps-2', 'helm3', 'https://h3-prod.example:6443', 'v1.37.3', 'proj-a', 1796391333841462, 1796391333877352, '', '', false);


--
-- Data for Name: operations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-succeeded', 'install', 'proj-a', 'h3-prod', 'apps', 'web', 'succeeded', '\x018668c0dbeb83e012741d5265b6ea1087f436d15d867ffaa7764a6416441497ffdb4a6203721ea7f4d575cfe78b19fd49d91e53e9cee7ea72ca1d9b810f4f11a068497f22671719c6d6251aa0c8ad41db62e422ce9c7fe0b3db061c070c1180a76af792b68f581aef3757f81d684ffa3bbd03bc91387a2b66e46c5d', '\x010c8cc9686f29f31014ac4c9755541201012d603f2de8da6bf1d05a9affb5dfec01cbf59c12906a9181083b18a2edb0269ad7d27a5d60995216f9bfeeb4c29526cd4e5ad42fb65cc1d2d8d432e5300c0abc5bf5da3bc1ca76dc55a415843d7b61a6d0203b1b', '\x7b227068617365223a2277616974222c227265616479223a22322f33227d', '\x7b227265766973696f6e223a372c226e6f746573223a22646f6e65227d', 7, '', '', '', 'idem-succeeded', 'sha256:op-succeeded', 'replica-1/3f2a9c', NULL, false, 1, 4, 1796391333935353, 1796391333961575, 1796391333945213, 1796391333961575);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-failed', 'upgrade', 'proj-a', 'h3-prod', 'apps', 'db', 'failed', '\x01cf64d58ccdc1c20692ff61db41e6d1e5bf06a9359ef6a6b64dea3206cc6e0ee83a49151bb4eb59d51cdea49adc535773ab1d3b7264a806d08f2e9b424360583caeeb960f8f866d749b1ee5d60ce51b72f42a07b91f9bc71a2cf654de338ee9025d32cb2fdbe44443bc6e2f1b9cbbe12edc76e83166810ef2', '\x010a74579ce1adc98a9da263d6b77e41f01f315e09995a8ff9fb70476fd06c9870835a778ebc2c6c162fecb0b2aad99c2f185db8347a212222c496256e11b3fa36515d96bb9c7afa81accae2a34ba5e10341a01e313d1e8208584ff7dd82c5fa87a38c', NULL, NULL, 3, 'HELM_UPGRADE_FAILED', 'helm: timed out waiting for the condition', 'values.image.tag', '', '', 'replica-1/3f2a9c', NULL, false, 1, 3, 1796391333966597, 1796391333979908, 1796391333974762, 1796391333979908);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-cancelled-running', 'upgrade', 'proj-a', 'h3-prod', 'apps', 'cache', 'cancelled', '\x011b7684aa7af2e8c85f9b65ce602fa1c83a84eae8939826bd30479fef814fc3494ed72d02cec246c0a8c65c616cbb8cb1db8b5ffca879fe39eab6511fb4064f50c38edf26bed1627889a974d1f8a7f052fe3051a9087d392ed8dd152c8006cc3dd5e1dc24c6a3d90e340e997981da2dfd714051b84f96f603d29d83e9df3959e6c8c4a7', '\x01bfcf0928f299709f9a32b663e030da83747793f4a4407f8532d8d3d7230fa44be04b6cf46895a86a66d5e369d0647bd9c0b3a2a858abea747003d6079823f6dad0c1ecdcb00f9a4982cbc8a61be739ecadf3cbcaa364220a713fbe0901a7d94d8f2f21553add0cf41ce07dfae4', NULL, NULL, 0, 'CANCELLED', 'cancelled by the user', '', '', '', 'replica-1/3f2a9c', NULL, true, 1, 5, 1796391333984423, 1796391334004753, 1796391333989143, 1796391334004753);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-cancelled-queued', 'uninstall', 'proj-b', 'h2-portfwd', 'default', 'old', 'cancelled', '\x015fa346dc6a9894db73da8357ae3abfcbcdb35736465f79b41d744ad456220415075a755bebb4e5893abc3b16d7d3c34453d2558ad47cbaf93cca8e9643aea0758c401310c840d864470d9f165e2b90391a7ad06e6f60d9d267352eed362ea753ffb8309f2fa31b5f621afe7f7d29f47128612898bd64d4be9ea03f92a9ea3756d9a8', '\x0113255fd8dbc829d1198ca5f812a24f18645d65a75f930e6b2572bcdf79c9a4f047d9280bd425bfccdb6fe32a4e4af4260193d1ca40606f1a72e496c8ac2615f6277acaa81252ae41cbc55e29e50904135ced0a6079b454d23fb29ca75b8bee0590f73e229d122fd5d98e3438', NULL, NULL, 0, '', '', '', 'idem-cancelled', 'sha256:op-cancelled-queued', '', NULL, true, 0, 2, 1796391334010959, 1796391334015237, NULL, 1796391334015237);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-running', 'install', 'proj-a', 'h2-legacy', 'default', 'api', 'running', '\x0153eda38779535e4d32108fe859b8469d7fba369eeebfb263c04c0eac008de9aae83e5d69e1071aa0b830d21f860954b439e2795be3cd71da074a896e55cd2b56304c9dca4f28c96ef8f7fd277459d71b68060c78c19d09d4f2642ac6c33f6d292735827287eb179998116f8ee392dc65da04599c351d5f227b', '\x01a39b8114edb9f80051504af89a093a26c636d8cb1b289ca46680f30aa603f43b710b8e9606265fc34f7a60272031164867fb5eeb4576e51bca21e708106f1fc9719a6344f845779501dba61d9e0e6f1c517b5edf80c3988496787e61f718271364ff03', '\x7b227068617365223a22696e7374616c6c227d', NULL, 0, '', '', '', 'idem-running', 'sha256:op-running', 'replica-1/3f2a9c', 1796391454025455, false, 1, 3, 1796391334021038, 1796391334031046, 1796391334025455, NULL);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-running-cancel', 'rollback', 'proj-a', 'h2-legacy', 'default', 'worker', 'running', '\x0144143485fbdc17949b0d1a52a2c9fda9cc1d132b3ea629c9b70b9a5411429e3b99e9b2f4714af8f29c5e22a69342655dd31b8d89553e0167c3fb539a5999aaec55b65b6c1a02d38bebefb501a24fdd9cced1de9738fa2c349d480862ca86f749d44aaefe02f9e1d34ecf2a229980f5d5052ecc0626dc4f406f690d25c16ce1b7', '\x01340704f27d3eef7fdcc2a1565627bf9af8ec0c37c28456688fc2de219a870b8853459348f22e4bb5f13c3dcfeeea9e9d855c0872970f9447412ac2236aae44434af4a0f694ac25a922264e085e6b0e730e3a0d31c79f3d6b84ffb815e627a6140c5796465a28afae520f', NULL, NULL, 0, '', '', '', '', '', 'replica-1/3f2a9c', 1796391454044584, true, 1, 3, 1796391334036547, 1796391334049540, 1796391334044584, NULL);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-adopted', 'scale', '', 'bare', '', 'batch', 'running', '\x010fb7fe415325642bcb0bf93cc2712a584f11a1015602a0abff0e05fa0245e91f0689852d5dcf68f3d4ff0235a65cf8aeb8e0822bfb764cae00a3c86d505a7da7bc95b8c72a41411918e98d919b41db8dd9be631d5d8170dba6c03c66b5a3e726e472a07dc98388d2639867ea7b64944378f8fa4b1cd4580a94', '\x01c1076fc3d2fed0a9919786d8d4f5e94c57596bb966a34ad4f2158dcff95bce4f7f378b61bee0aa7b80fd2007a3431da94c2489a8c851513aefc542ae02bd6124c75584cb27a21041d5d8d4107866846c6b92d9e3dbbc2c0b5c6df4bf29e98906a86d91', NULL, NULL, 0, '', '', '', '', '', 'replica-1/3f2a9c', 1796391454069990, false, 2, 3, 1796391334056965, 1796391334069990, 1796391334065262, NULL);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-queued', 'upgrade', 'proj-a', 'h2-legacy', 'default', 'api', 'queued', '\x014fe99e7f40df2bc6af90f58af12f1aaaad96289e9741b277cb306755fd0dc0ee610d9360beb4c4ca7f1eae9d06ae19dc09f721a6163ef7784dff97aa9c194f5d7c6135bff253708b7c61c5de35afc78f16658a682746fb4dcf572cdeee242048efdda77fb375f9ed1b0c6f11e2ee5d3f043120b6c7d1ffb4', '\x0129f16f9cca57145e15cde10d29cfc5b130b09f797d9e48c0900e4eef757424e1846a0513efd4b41417bd65f1f9a2d9481d2dda2b219841f697811db49f17e39c401e4e0ddf68851ccec69d42cd923741197ae47cb10b33a0036ddae8177fde18f913', NULL, NULL, 0, '', '', '', 'idem-queued', 'sha256:op-queued', '', NULL, false, 0, 1, 1796391334074429, 1796391334074429, NULL, NULL);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-queued-bare', 'uninstall', '', 'h2-legacy', '', 'api', 'queued', NULL, NULL, NULL, NULL, 0, '', '', '', '', '', '', NULL, false, 0, 1, 1796391334078332, 1796391334078332, NULL, NULL);
INSERT INTO public.operations (id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc, progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at) VALUES ('op-queued-free', 'install', 'proj-b', 'odd id ünï/''x''', 'ns', 'fresh', 'queued', '\x01bfde54ac38cdf825222b75c98242c3ac8aed9bb93b692f85d13ff8a0e5cb64c9b1486d62902988b5d22842b1d429a82984fece1babc7cd1c860a1b86ea85d53ef7a34143702c5b29f89fe8bd547f44a6700656aeeb1ed12f635a7ea6767f24c4dc4569109f432114737a02187faf0dd5751cbccdbb21d1630537f43137', '\x01b0ae6b8567f34c5f23f876bb03e87d31075eb3706439c0ba9fca5c17f575610cc1ba9fce368fd017d0f77bf85b291886c4bda3994746179d4ddce7e8ae7a99a30354c59c825a1e279d2fd8826e7c4048c0b228faa1f89c5658cdcd64f4a5b5496205054640e84e', NULL, NULL, 0, '', '', '', 'idem-free', 'sha256:op-queued-free', '', NULL, false, 0, 1, 1796391334082501, 1796391334082501, NULL, NULL);


--
-- Data for Name: project_repos; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.project_repos (project, name, url, type, username, password_enc, created_at, updated_at, ext_id, ca_cert, cert, key_enc, keyring, insecure_skip_verify, pass_credentials, plain_http) VALUES ('proj-b', 'oci', 'oci://proj-b.example/charts', 'oci', '', NULL, 1796391333914217, 1796391333914217, '', NULL, NULL, '\x01d7627c56a73e9d4ef9e3185a1dfbe1cc2deb4ba205562764d0617b33b32ff335f43ba2e504e8e08f7f6b9f95ddc9cba5f76fdb22bae6d5744110978b339c3a08e0fd59256d4e41763173f2bfa185c79a4be57382382d543038e3c77597', NULL, true, false, true);
INSERT INTO public.project_repos (project, name, url, type, username, password_enc, created_at, updated_at, ext_id, ca_cert, cert, key_enc, keyring, insecure_skip_verify, pass_credentials, plain_http) VALUES ('', 'default-repo', 'https://default.example', 'http', 'anon', '\x01b71fa1a1f4b443f6fdb7c653da68d49d5b84a50cc27f4cd1c3c6d65dc0b98ac0c6e9961a86deb4e7d7a7e785', 1796391333918511, 1796391333918511, 'k8srepo-0200', NULL, NULL, NULL, NULL, false, false, false);
INSERT INTO public.project_repos (project, name, url, type, username, password_enc, created_at, updated_at, ext_id, ca_cert, cert, key_enc, keyring, insecure_skip_verify, pass_credentials, plain_http) VALUES ('proj-a', 'shared', 'https://shared.example/charts', 'http', 'shared-user-2', '\x01b815a003b9ee580ca9ca1ffa02c8406d7205598606b20667261945e824bf4187ac1f2e7c815d9e616d0550', 1796391333906810, 1796391333928096, 'k8srepo-0100', '\x2d2d2d2d2d424547494e2043455254494649434154452d2d2d2d2d0a63612d7368617265640a2d2d2d2d2d454e442043455254494649434154452d2d2d2d2d0a', '\x2d2d2d2d2d424547494e2043455254494649434154452d2d2d2d2d0a636c69656e742d636572742d7368617265640a2d2d2d2d2d454e442043455254494649434154452d2d2d2d2d0a', '\x014bd691c3963bfdf3f4f73b8920395446e7ffda2124e4d1db67c61d2cc8fb621070e046cbc2c7b345a959c9abcd32a744a2c05fe7cb5fd4199b6a62cf7c44c0aa650da3a731d3a3b9657077d07dcb8120e046b1d44794e895bdff4bda0071feaf12ca7783', '\x6b657972696e672d736861726564', false, true, false);


--
-- Data for Name: repos; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.repos (cluster_id, name, url, type, username, password_enc, created_at, updated_at, ext_id, ca_cert, cert, key_enc, keyring, insecure_skip_verify, pass_credentials, plain_http) VALUES ('h3-prod', 'bitnami', 'https://charts.bitnami.example/bitnami', 'http', 'robot', '\x0123d91883fcb7c4d1f2b01d56a94a887ed7b091c23468b9a1feebdf5713e817b71842d04c37ebc3bfa8cec7100a174e4a7e', 1796391333882715, 1796391333882715, 'k8srepo-0001', '\x2d2d2d2d2d424547494e2043455254494649434154452d2d2d2d2d0a63612d6269746e616d690a2d2d2d2d2d454e442043455254494649434154452d2d2d2d2d0a', '\x2d2d2d2d2d424547494e2043455254494649434154452d2d2d2d2d0a636c69656e742d636572742d6269746e616d690a2d2d2d2d2d454e442043455254494649434154452d2d2d2d2d0a', '\x014da8ebc4e6a7ec614ef952b85c4f65f3e6dee1d0d16ec723a869f46be4b181763177f3fb67253794b146f830c6bfec23a8b1a148805aed757909fa4f536952fd2010f8247306146aa45265c68311dbaadf5f7896ce40f2f38566b990201295e278481db96f', '\x99000d046b72', true, true, false);
INSERT INTO public.repos (cluster_id, name, url, type, username, password_enc, created_at, updated_at, ext_id, ca_cert, cert, key_enc, keyring, insecure_skip_verify, pass_credentials, plain_http) VALUES ('h2-legacy', 'stable', 'https://charts.helm.example/stable', 'http', '', NULL, 1796391333896892, 1796391333896892, '', NULL, NULL, NULL, NULL, false, false, false);
INSERT INTO public.repos (cluster_id, name, url, type, username, password_enc, created_at, updated_at, ext_id, ca_cert, cert, key_enc, keyring, insecure_skip_verify, pass_credentials, plain_http) VALUES ('odd id ünï/''x''', 'r/ünï ''q''', 'https://odd.example', 'http', '', NULL, 1796391333901348, 1796391333901348, '', NULL, NULL, '\x019a337dfd0ee0d1d67891882de4f92b2b9c888f0720f09c49d0f2117020608e9699b57c4b5038fbf002bd221c23fbf4c516a190ee02cae51d57fc99f9b6835411f91d1913780172150bc66705a3806e0e4dbc3b1623bf950e62ae', NULL, true, true, true);
INSERT INTO public.repos (cluster_id, name, url, type, username, password_enc, created_at, updated_at, ext_id, ca_cert, cert, key_enc, keyring, insecure_skip_verify, pass_credentials, plain_http) VALUES ('h3-prod', 'oci-reg', 'oci://registry.example:5001/charts', 'oci', 'oci-user', '\x01e75f0c39e14a812acf38650fc93da0b0cdf10df9991c58b9f199da5fd06eb2e49ebc18dddcbf919579a0047c2d0db481', 1796391333888542, 1796391333923308, 'k8srepo-0002', NULL, NULL, NULL, NULL, false, false, true);


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_migrations (version, applied_at) VALUES (1, 1796391333770387);
INSERT INTO public.schema_migrations (version, applied_at) VALUES (2, 1796391333816182);
INSERT INTO public.schema_migrations (version, applied_at) VALUES (3, 1796391333833286);
INSERT INTO public.schema_migrations (version, applied_at) VALUES (4, 1796391333838280);


--
-- Name: clusters clusters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.clusters
    ADD CONSTRAINT clusters_pkey PRIMARY KEY (id);


--
-- Name: operations operations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.operations
    ADD CONSTRAINT operations_pkey PRIMARY KEY (id);


--
-- Name: project_repos project_repos_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project_repos
    ADD CONSTRAINT project_repos_pkey PRIMARY KEY (project, name);


--
-- Name: repos repos_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.repos
    ADD CONSTRAINT repos_pkey PRIMARY KEY (cluster_id, name);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: operations_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX operations_created ON public.operations USING btree (created_at, id);


--
-- Name: operations_finished; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX operations_finished ON public.operations USING btree (finished_at) WHERE (finished_at IS NOT NULL);


--
-- Name: operations_idempotency; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX operations_idempotency ON public.operations USING btree (project, idempotency_key) WHERE (idempotency_key <> ''::text);


--
-- Name: operations_live; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX operations_live ON public.operations USING btree (state, created_at, id) WHERE (state = ANY (ARRAY['queued'::text, 'running'::text]));


--
-- Name: operations_one_running; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX operations_one_running ON public.operations USING btree (cluster_id, release_name) WHERE (state = 'running'::text);


--
-- Name: operations_release; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX operations_release ON public.operations USING btree (cluster_id, release_name, created_at);


--
-- Name: operations_updated; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX operations_updated ON public.operations USING btree (updated_at, id);


--
-- Name: repos repos_cluster_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.repos
    ADD CONSTRAINT repos_cluster_id_fkey FOREIGN KEY (cluster_id) REFERENCES public.clusters(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--

\unrestrict 7rYpzYhD3DjQ2AbowIfaVeveIGBuu1SX8Nd7OvkEOoRPQa5OjJZpHbeP4QG2HUV

