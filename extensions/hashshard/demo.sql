-- hashshard demo: a table spread over three nodes, how a key finds its shard,
-- what runs on the nodes, and an atomic transfer between two shards.
--
-- The three nodes are databases of this same cluster (loopback), reached
-- through its Unix socket; in production each node is its own server.
-- Two-phase commit needs max_prepared_transactions > 0 on the nodes: make
-- demo starts the cluster with hashshard's test.conf, which sets it.
CREATE EXTENSION hashshard;

-- three empty node databases
SELECT format('CREATE DATABASE %I', 'hashshard_node' || n)
FROM generate_series(1, 3) n \gexec

-- a node is a server of the hashshard wrapper (libpq options) ...
SELECT format('CREATE SERVER %I FOREIGN DATA WRAPPER hashshard '
              'OPTIONS (host %L, port %L, dbname %L)',
              'node' || n,
              coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''),
                       'localhost'),
              current_setting('port'), 'hashshard_node' || n)
FROM generate_series(1, 3) n \gexec
-- ... with a user mapping: who we are on the node (a superuser here; other
-- users must give a password, and the node must ask for it)
SELECT format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (user %L)',
              'node' || n, current_user)
FROM generate_series(1, 3) n \gexec

-- every node answers, and allows prepared transactions
SELECT node, dbname, reachable, max_prepared_transactions FROM hashshard.nodes;

-- an ordinary table with rows ...
CREATE TABLE accounts (
    id      bigint PRIMARY KEY,
    owner   text NOT NULL,
    balance numeric(12,2) NOT NULL CHECK (balance >= 0)
);
INSERT INTO accounts
SELECT g, 'customer ' || g, 1000 FROM generate_series(1, 10000) g;

-- ... becomes a distributed table: 8 shards, placed round robin on the
-- nodes; the rows move to their shards with the COPY protocol
SELECT hashshard.create_distributed_table('accounts', 'id', shard_count => 8);

-- locally it is now a hash-partitioned table whose partitions are foreign
-- tables, one per shard
\d+ accounts
SELECT shard, modulus, remainder, node, partition, remote_table
FROM hashshard.shards WHERE table_name = 'accounts'::regclass ORDER BY shard;
SELECT shard, node, rows FROM hashshard.shard_sizes('accounts') ORDER BY shard;

-- Routing.  The shard of a key is PostgreSQL's hash partitioning:
--   (extended hash of the key with seed 0x7A5B22367996DCFD
--    + 0x49a0f4dd15e5a8e3) mod shard_count, unsigned 64-bit.
-- shard_for() computes it, the partition a row is read from agrees, and any
-- client can compute it too (here for bigint keys and 8 shards, in SQL):
SELECT id,
       hashshard.shard_for('accounts', id) AS shard_for,
       tableoid::regclass AS partition,
       ((hashint8extended(id, 8816678312871386365) & 7) + 3) & 7 AS by_hand
FROM accounts WHERE id <= 6 ORDER BY id;

-- Pushdown.  A point query is pruned to one shard and runs there whole
-- (one round trip outside a transaction block):
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM accounts WHERE id = 42;
SELECT * FROM accounts WHERE id = 42;
-- count(*) runs on every shard; the coordinator adds up 8 numbers:
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM accounts;
SELECT count(*) FROM accounts;
-- an UPDATE by key is one remote UPDATE on one shard:
EXPLAIN (VERBOSE, COSTS OFF)
UPDATE accounts SET balance = balance - 100 WHERE id = 1;

-- An atomic transfer.  Two accounts on different nodes:
SELECT a.id AS from_id, b.id AS to_id
FROM (SELECT 1::bigint AS id) a,
     LATERAL (SELECT min(id) AS id FROM generate_series(2::bigint, 100) id
              WHERE (SELECT node FROM hashshard.shards
                     WHERE table_name = 'accounts'::regclass
                       AND shard = hashshard.shard_for('accounts', id))
                 <> (SELECT node FROM hashshard.shards
                     WHERE table_name = 'accounts'::regclass
                       AND shard = hashshard.shard_for('accounts', a.id))) b
\gset
SELECT s.node, a.id, a.balance
FROM accounts a
JOIN hashshard.shards s ON s.table_name = 'accounts'::regclass
 AND s.shard = hashshard.shard_for('accounts', a.id)
WHERE a.id IN (:from_id, :to_id) ORDER BY a.id;
SELECT sum(balance) AS total_before FROM accounts;

-- The transaction writes on two nodes, so COMMIT is a two-phase commit:
-- commit record, PREPARE TRANSACTION on both nodes, local commit, COMMIT
-- PREPARED on both.
BEGIN;
UPDATE accounts SET balance = balance - 100 WHERE id = :from_id;
UPDATE accounts SET balance = balance + 100 WHERE id = :to_id;
COMMIT;

SELECT id, balance FROM accounts WHERE id IN (:from_id, :to_id) ORDER BY id;
SELECT sum(balance) AS total_after FROM accounts;
-- nothing is left in doubt on any node
SELECT * FROM hashshard.prepared_transactions();
-- the commit decision was recorded locally; recovery (the background
-- worker, or this function) deletes records no node needs any more
-- (one for this transfer, one for create_distributed_table, which created
-- the shard tables on the three nodes in one atomic transaction)
SELECT count(*) AS records_before_recovery FROM hashshard.commit_records;
SELECT * FROM hashshard.recover_prepared();
SELECT count(*) AS records_after_recovery FROM hashshard.commit_records;

-- A transfer that fails on one node (the CHECK on the shard table refuses
-- a negative balance) leaves nothing behind on the other: the block's
-- savepoint is rolled back on both nodes.
SET demo.from_id = :from_id;
SET demo.to_id = :to_id;
DO $$
DECLARE
    from_id bigint := current_setting('demo.from_id');
    to_id   bigint := current_setting('demo.to_id');
BEGIN
    UPDATE accounts SET balance = balance + 5000 WHERE id = to_id;
    UPDATE accounts SET balance = balance - 5000 WHERE id = from_id;
EXCEPTION WHEN check_violation THEN
    RAISE NOTICE 'transfer refused: %', SQLERRM;
END
$$;
SELECT id, balance FROM accounts WHERE id IN (:from_id, :to_id) ORDER BY id;
SELECT sum(balance) AS total_after_refusal FROM accounts;
