package main

import (
	"context"
	"embed"
	"log"
	"log/slog"
	"os"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/hearth-pds/hearth/app"
)

//go:embed all:frontend/dist
var assets embed.FS

// wailsUI gives the app the window's events and native dialogs. For
// automated GUI tests (which cannot click native dialogs) the paths can be
// preset with HEARTH_E2E_SAVE_PATH and HEARTH_E2E_OPEN_PATH.
type wailsUI struct{ ctx context.Context }

func (w wailsUI) Emit(event string, data any) { runtime.EventsEmit(w.ctx, event, data) }

func (w wailsUI) SaveFile(title, name string) (string, error) {
	if p := os.Getenv("HEARTH_E2E_SAVE_PATH"); p != "" {
		return p, nil
	}
	return runtime.SaveFileDialog(w.ctx, runtime.SaveDialogOptions{Title: title, DefaultFilename: name})
}

func (w wailsUI) OpenFile(title, pattern string) (string, error) {
	if p := os.Getenv("HEARTH_E2E_OPEN_PATH"); p != "" {
		return p, nil
	}
	opts := runtime.OpenDialogOptions{Title: title}
	if pattern != "" {
		opts.Filters = []runtime.FileFilter{{DisplayName: pattern, Pattern: pattern}}
	}
	return runtime.OpenFileDialog(w.ctx, opts)
}

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := app.New(app.Config{DataDir: os.Getenv("HEARTH_DATA_DIR"), PLCURL: os.Getenv("HEARTH_PLC_URL"), Logger: logger,
		KeyStore: os.Getenv("HEARTH_KEY_STORE"), AllowPrivateNetwork: app.EnvFlag("HEARTH_ALLOW_PRIVATE_NETWORK")})
	err := wails.Run(&options.App{
		Title:     "Hearth",
		Width:     1240,
		Height:    820,
		MinWidth:  900,
		MinHeight: 600,
		AssetServer: &assetserver.Options{
			Assets: assets,
		},
		OnStartup: func(ctx context.Context) {
			// A failure (the data folder is in use by another Hearth
			// process, its data is damaged) is shown by the window's start
			// screen (App.StartError); no second engine is opened.
			if err := app.Start(ctx, a, wailsUI{ctx}); err != nil {
				logger.Error("could not start the PDS engine", "err", err)
			}
		},
		OnShutdown: func(ctx context.Context) { app.Shutdown(ctx, a) },
		Bind:       []interface{}{a},
	})
	if err != nil {
		log.Fatal(err)
	}
}
