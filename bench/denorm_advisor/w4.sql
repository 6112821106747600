-- w4: a new order of 3 items (each 30% on the 10 hot products), one transaction
\set cid random(1, :ncust)
\set r1 random(1, 100)
\set p1 CASE WHEN :r1 <= 30 THEN random(1, 10) ELSE random(1, :nprod) END
\set r2 random(1, 100)
\set p2 CASE WHEN :r2 <= 30 THEN random(1, 10) ELSE random(1, :nprod) END
\set r3 random(1, 100)
\set p3 CASE WHEN :r3 <= 30 THEN random(1, 10) ELSE random(1, :nprod) END
\set q1 random(1, 3)
\set q2 random(1, 3)
\set q3 random(1, 3)
BEGIN;
INSERT INTO orders (customer_id, ordered_at, status, ship_address) SELECT c.id, now(), 'pending', c.address FROM customers c WHERE c.id = :cid RETURNING id AS new_order_id \gset
INSERT INTO order_items (order_id, product_id, qty, unit_price) SELECT :new_order_id::bigint, p.id, v.qty, p.price FROM (VALUES (:p1::int, :q1::int), (:p2::int, :q2::int), (:p3::int, :q3::int)) AS v (pid, qty) JOIN products p ON p.id = v.pid;
END;
