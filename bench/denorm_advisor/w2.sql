-- w2: stock of a product (30% on the 10 hot products)
\set r random(1, 100)
\set pid CASE WHEN :r <= 30 THEN random(1, 10) ELSE random(1, :nprod) END
UPDATE products SET stock = stock - 1 WHERE id = :pid;
