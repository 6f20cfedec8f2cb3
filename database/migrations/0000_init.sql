CREATE TABLE `candles_1m` (
	`symbol` text NOT NULL,
	`open_time` integer NOT NULL,
	`close_time` integer NOT NULL,
	`open` text NOT NULL,
	`high` text NOT NULL,
	`low` text NOT NULL,
	`close` text NOT NULL,
	`volume` text NOT NULL,
	`quote_volume` text,
	`trades` integer,
	PRIMARY KEY(`symbol`, `open_time`)
);
--> statement-breakpoint
CREATE TABLE `fills` (
	`run_id` text NOT NULL,
	`trade_id` text NOT NULL,
	`order_id` text NOT NULL,
	`client_order_id` text NOT NULL,
	`symbol` text NOT NULL,
	`side` text NOT NULL,
	`price` text NOT NULL,
	`quantity` text NOT NULL,
	`commission` text NOT NULL,
	`commission_asset` text NOT NULL,
	`realized_pnl` text NOT NULL,
	`maker` integer NOT NULL,
	`time` integer NOT NULL,
	PRIMARY KEY(`run_id`, `symbol`, `trade_id`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `fills_order_idx` ON `fills` (`run_id`,`client_order_id`);--> statement-breakpoint
CREATE TABLE `orders` (
	`run_id` text NOT NULL,
	`client_order_id` text NOT NULL,
	`order_id` text,
	`symbol` text NOT NULL,
	`side` text NOT NULL,
	`type` text NOT NULL,
	`quantity` text NOT NULL,
	`price` text,
	`time_in_force` text,
	`reduce_only` integer NOT NULL,
	`strategy_id` text NOT NULL,
	`signal_id` text,
	`ref_price` text NOT NULL,
	`status` text NOT NULL,
	`executed_qty` text DEFAULT '0' NOT NULL,
	`cum_quote` text DEFAULT '0' NOT NULL,
	`avg_price` text,
	`reject_code` integer,
	`reason` text,
	`denied_check` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`run_id`, `client_order_id`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "orders_status_ck" CHECK(status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED', 'DENIED'))
);
--> statement-breakpoint
CREATE INDEX `orders_status_idx` ON `orders` (`status`);--> statement-breakpoint
CREATE INDEX `orders_symbol_idx` ON `orders` (`symbol`);--> statement-breakpoint
CREATE TABLE `positions` (
	`run_id` text NOT NULL,
	`symbol` text NOT NULL,
	`quantity` text NOT NULL,
	`entry_price` text NOT NULL,
	`realized_pnl` text NOT NULL,
	`fees` text NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`run_id`, `symbol`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `risk_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text NOT NULL,
	`ts` integer NOT NULL,
	`state` text NOT NULL,
	`previous` text NOT NULL,
	`reason` text NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `risk_events_run_idx` ON `risk_events` (`run_id`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`mode` text NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`status` text NOT NULL,
	`config_json` text NOT NULL,
	`summary_json` text
);
--> statement-breakpoint
CREATE TABLE `signals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text NOT NULL,
	`signal_id` text NOT NULL,
	`strategy_id` text NOT NULL,
	`symbol` text NOT NULL,
	`ts` integer NOT NULL,
	`target` text NOT NULL,
	`reason` text NOT NULL,
	`ref_price` text NOT NULL,
	`indicators` text NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `signals_run_signal_uq` ON `signals` (`run_id`,`signal_id`);