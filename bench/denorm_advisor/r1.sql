-- r1: the orders of one day with their customers' name and segment
\set d1 10000 * random(2023, 2024) + 100 * random(1, 12) + random(1, 28)
SELECT o.id, o.ordered_at, c.name, c.segment FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.ordered_at >= :d1::timestamptz AND o.ordered_at < :d1::timestamptz + interval '1 day';
