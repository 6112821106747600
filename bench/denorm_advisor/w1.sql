-- w1: a page view, 90% of them on the 10 hot products
\set r random(1, 100)
\set pid CASE WHEN :r <= 90 THEN random(1, 10) ELSE random(1, :nprod) END
\set sid random(1, 1000000)
INSERT INTO page_views (product_id, viewed_at, session_id) VALUES (:pid, now(), 'w' || to_hex(:sid::int));
