-- r2: the items of one order with their products' names
\set oid random(1, :nord)
SELECT oi.id, oi.qty, p.name FROM order_items oi JOIN products p ON p.id = oi.product_id WHERE oi.order_id = :oid;
