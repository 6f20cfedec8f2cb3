CREATE TABLE `candle_blocks` (
	`symbol` text NOT NULL,
	`open_time` integer NOT NULL,
	`candles` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `candle_blocks_symbol_time_uq` ON `candle_blocks` (`symbol`,`open_time`);--> statement-breakpoint
INSERT INTO `candle_blocks` (`symbol`, `open_time`, `candles`)
	SELECT `symbol`, `open_time` - `open_time` % 3600000,
		json_group_array(json_array(`open_time`, `close_time`, `open`, `high`, `low`, `close`, `volume`, `quote_volume`, `trades`) ORDER BY `open_time`)
	FROM `candles_1m` GROUP BY `symbol`, `open_time` - `open_time` % 3600000;--> statement-breakpoint
DROP TABLE `candles_1m`;--> statement-breakpoint
CREATE VIEW `candles_1m` AS SELECT b.`symbol` AS `symbol`,
	CAST(c.value ->> 0 AS INTEGER) AS `open_time`, CAST(c.value ->> 1 AS INTEGER) AS `close_time`,
	CAST(c.value ->> 2 AS TEXT) AS `open`, CAST(c.value ->> 3 AS TEXT) AS `high`, CAST(c.value ->> 4 AS TEXT) AS `low`,
	CAST(c.value ->> 5 AS TEXT) AS `close`, CAST(c.value ->> 6 AS TEXT) AS `volume`, CAST(c.value ->> 7 AS TEXT) AS `quote_volume`,
	CAST(c.value ->> 8 AS INTEGER) AS `trades`
	FROM `candle_blocks` b, json_each(b.`candles`) c;--> statement-breakpoint
CREATE TRIGGER `candles_1m_insert` INSTEAD OF INSERT ON `candles_1m` BEGIN
	INSERT INTO `candle_blocks` (`symbol`, `open_time`, `candles`)
	VALUES (NEW.`symbol`, CAST(NEW.`open_time` AS INTEGER) - CAST(NEW.`open_time` AS INTEGER) % 3600000,
		json_array(json_array(CAST(NEW.`open_time` AS INTEGER), CAST(NEW.`close_time` AS INTEGER), NEW.`open`, NEW.`high`, NEW.`low`, NEW.`close`, NEW.`volume`,
			NEW.`quote_volume`, CAST(NEW.`trades` AS INTEGER))))
	ON CONFLICT (`symbol`, `open_time`) DO UPDATE SET `candles` = (
		SELECT json_group_array(json(v) ORDER BY t) FROM (SELECT v, t, min(s) FROM (
			SELECT value AS v, value ->> 0 AS t, 0 AS s FROM json_each(`candle_blocks`.`candles`)
			UNION ALL SELECT value, value ->> 0, 1 FROM json_each(excluded.`candles`)) GROUP BY t));
END;
